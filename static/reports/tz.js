// The reports form's hidden time zone: the browser's own, so the days and hours of a
// report are the reader's. A link that names a zone (?tz=) keeps it; without a script
// the server's TIME_ZONE applies.
const field = document.getElementById("id_tz");
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (field && zone && !new URLSearchParams(window.location.search).has("tz")) {
  field.value = zone;
}

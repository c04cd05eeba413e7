// Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "✓";
    } catch (error) {
      // No clipboard (plain http, or permission refused): select it for Ctrl+C instead.
      window.getSelection().selectAllChildren(source);
      button.textContent = "Ctrl+C";
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}

"""Django signals used only as trigger points for `services.revocation`.

Users, groups and permissions are Django's own models, changed by the admin, by
`createagent`, by `changepassword` and from the shell; none of those call our
services. Signals are the one place every such save, removal and deletion passes
through, so each receiver here only works out whose access may have ended and calls
`revocation.access_changed`; the rule itself lives in the service.

A bulk `QuerySet.update()` sends no signal: sockets find that change at their next
heartbeat (docs/websocket.md, "Losing access").
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_save, pre_delete, pre_save

from handoff.services import revocation

ENDS_ACCESS = "_handoff_save_ends_access"


def user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw:
        return
    if revocation.user_saved_fields_that_end_access(instance, update_fields=update_fields):
        setattr(instance, ENDS_ACCESS, True)
        revocation.save_begins(agent_id=instance.pk)


def user_post_save(sender, instance, raw=False, **kwargs):
    if getattr(instance, ENDS_ACCESS, False):
        delattr(instance, ENDS_ACCESS)
        revocation.access_changed(agent_ids=[instance.pk])


def user_pre_delete(sender, instance, **kwargs):
    revocation.agent_deleted(agent_id=instance.pk, username=instance.get_username())


def user_groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    # Forward: user.groups.remove(g) / .clear(); reverse: group.user_set.remove(u) / .clear().
    if action == "pre_remove":
        ids = list(pk_set) if reverse else [instance.pk]
    elif action == "pre_clear":
        ids = revocation.members_of([instance.pk]) if reverse else [instance.pk]
    else:
        return
    revocation.access_changed(agent_ids=ids)


def user_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs):
    # Forward: user.user_permissions.remove(p); reverse: permission.user_set.remove(u).
    if action == "pre_remove":
        ids = list(pk_set) if reverse else [instance.pk]
    elif action == "pre_clear":
        ids = list(instance.user_set.values_list("pk", flat=True)) if reverse else [instance.pk]
    else:
        return
    revocation.access_changed(agent_ids=ids)


def group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs):
    # Forward: group.permissions.remove(p); reverse: permission.group_set.remove(g).
    if action == "pre_remove":
        ids = revocation.members_of(pk_set if reverse else [instance.pk])
    elif action == "pre_clear":
        groups = instance.group_set.values_list("pk", flat=True) if reverse else [instance.pk]
        ids = revocation.members_of(groups)
    else:
        return
    revocation.access_changed(agent_ids=ids)


def group_pre_delete(sender, instance, **kwargs):
    revocation.access_changed(agent_ids=revocation.members_of([instance.pk]))


def permission_pre_delete(sender, instance, **kwargs):
    revocation.access_changed(agent_ids=revocation.holders_of_permissions([instance.pk]))


def connect() -> None:
    """Called once from HandoffConfig.ready()."""
    User = get_user_model()
    uid = "handoff.revocation"
    pre_save.connect(user_pre_save, sender=User, dispatch_uid=uid)
    post_save.connect(user_post_save, sender=User, dispatch_uid=uid)
    pre_delete.connect(user_pre_delete, sender=User, dispatch_uid=uid)
    pre_delete.connect(group_pre_delete, sender=Group, dispatch_uid=uid)
    pre_delete.connect(permission_pre_delete, sender=Permission, dispatch_uid=uid)
    m2m_changed.connect(user_groups_changed, sender=User.groups.through, dispatch_uid=uid)
    m2m_changed.connect(
        user_permissions_changed, sender=User.user_permissions.through, dispatch_uid=uid
    )
    m2m_changed.connect(
        group_permissions_changed, sender=Group.permissions.through, dispatch_uid=uid
    )

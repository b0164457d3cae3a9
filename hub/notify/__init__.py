"""Notifications: events become messages in an outbox, one row per recipient and channel,
delivered once through the job queue by channel plugins (the ``register_notifiers`` hook);
the in-hub inbox is the channel that is always on. See ``hub.notify.outbox``."""

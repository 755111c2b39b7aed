"""Front-ends that are another program's client: the local XMPP gateway (``pbridge gateway
xmpp``), which shows the chats of a home as contacts in the user's own Jabber client.

Presentation over the app, as the CLI and the console are: it imports ``core``, ``app``
and itself only (docs/ARCHITECTURE.md)."""

"""The local app: chats, outbox, inbox and polling over a store and bridges."""

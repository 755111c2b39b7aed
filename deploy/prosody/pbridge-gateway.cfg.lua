-- Pointer Bridge's local gateway (pbridge gateway xmpp) as an external component of
-- Prosody (XEP-0114). Put this in /etc/prosody/conf.d/ (Debian) or at the end of
-- prosody.cfg.lua, with your own account on a VirtualHost of this server, and start the
-- gateway with the same secret:
--
--   install -m 0600 /dev/null ~/.config/pbridge-component.secret   # then write the secret into it
--   pbridge gateway xmpp --domain pbridge.localhost --user alice@localhost \
--       --secret-file ~/.config/pbridge-component.secret
--
-- The component stream is not encrypted: keep it on this machine.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1", "::1" }

Component "pbridge.localhost"
    -- The same secret as the gateway's --secret-file (or --secret-env). Prosody reads it from
    -- here: keep this file readable by root and prosody only (chmod 640, group prosody).
    component_secret = "change-me: a long random string, e.g. from pwgen -s 40 1"

-- What the server keeps of the gateway's messages. The gateway sends every message with
-- the XEP-0334 hints no-store, no-permanent-store and no-copy, to a resource of yours that
-- is online only (never to the offline store). mod_mam honours the hints; to be sure
-- nothing is archived at all, keep message archiving off for your account's host:
--   modules_disabled = { "mam", "offline" }   -- in your VirtualHost's block
-- Your own client keeps its own history on disk unless you turn that off in it (Gajim:
-- Preferences > Privacy; Dino, Conversations: per chat), whatever the server does.

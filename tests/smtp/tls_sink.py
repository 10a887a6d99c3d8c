"""A TLS-capable SMTP server for t/078-smtp-tls.t (Debian's aiosmtpd): one port that requires
STARTTLS and one with TLS from the first byte, both requiring AUTH (PLAIN or LOGIN) for one
user, every accepted message saved in a maildir. Runs until killed.

    /usr/bin/python3 tests/smtp/tls_sink.py STARTTLS_PORT TLS_PORT CERT KEY MAILDIR USER PASSWORD
"""
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

starttls_port, tls_port, cert, key, maildir, user, password = sys.argv[1:8]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)


def authenticate(server, session, envelope, mechanism, data):
    good = (isinstance(data, LoginPassword) and data.login.decode() == user
            and data.password.decode() == password)
    return AuthResult(success=good)


common = dict(hostname='127.0.0.1', authenticator=authenticate, auth_required=True)
servers = [
    Controller(Mailbox(maildir), port=int(starttls_port), tls_context=context,
               require_starttls=True, **common),
    # aiosmtpd counts only STARTTLS as TLS for AUTH; this port is TLS from the first byte.
    Controller(Mailbox(maildir), port=int(tls_port), ssl_context=context, auth_require_tls=False,
               **common),
]
for server in servers:
    server.start()
print('ready', flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
for server in servers:
    server.stop()

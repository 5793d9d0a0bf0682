#!/usr/bin/env python3
"""A throwaway SMTP server for lifeboat-notify's tests (aiosmtpd, Debian's python3-aiosmtpd).

Two listeners on loopback, both requiring AUTH (PLAIN or LOGIN) with one test user:

  --starttls-port  plain SMTP that refuses everything but EHLO/STARTTLS/QUIT before STARTTLS
                   (RFC 3207) and offers AUTH only once TLS is up
  --tls-port       implicit TLS (SMTPS, the "port 465" style): TLS from the first byte

Every accepted message is appended as one JSON line to --spool (flushed before the server
answers 250, so a test that saw the send succeed can read it):

  {"listener": "starttls"|"tls", "auth_user": ..., "mail_from": ..., "rcpt_tos": [...],
   "subject": ..., "body": <the text/plain part>, "raw": <the whole message>, "received_at": ...}

The certificate (--cert/--key, PEM) is made by scripts/notify-servers.sh with openssl; the
password is read from the file --password-file so it never appears in a process listing.
"""

import argparse
import asyncio
import email
import email.policy
import json
import signal
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    """The DATA handler: appends each message to the spool file."""

    def __init__(self, spool, listener):
        self.spool = spool
        self.listener = listener
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content.decode("utf-8", errors="replace")
        msg = email.message_from_string(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        user = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        record = {
            "listener": self.listener,
            "auth_user": user,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(msg.get("Subject", "")),
            "body": body,
            "raw": raw,
            "received_at": time.time(),
        }
        with self.lock, open(self.spool, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
        return "250 Message accepted for delivery"


def authenticator(user, password):
    """Accepts exactly one user and password; anything else is 535."""

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # Only the login is kept on the session (it is recorded); never the password.
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    return check


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--starttls-port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--spool", required=True)
    args = p.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().strip()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    auth = authenticator(args.user, password)

    starttls = Controller(
        Recorder(args.spool, "starttls"),
        hostname=args.host,
        port=args.starttls_port,
        server_hostname="localhost",
        tls_context=ctx,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=auth,
    )
    # Implicit TLS: the whole connection is encrypted, so AUTH needs no STARTTLS first.
    implicit = Controller(
        Recorder(args.spool, "tls"),
        hostname=args.host,
        port=args.tls_port,
        server_hostname="localhost",
        ssl_context=ctx,
        auth_required=True,
        auth_require_tls=False,
        authenticator=auth,
    )
    starttls.start()
    implicit.start()
    print(f"smtp-server: STARTTLS on {args.host}:{args.starttls_port}, TLS on {args.host}:{args.tls_port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    starttls.stop()
    implicit.stop()


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    main()

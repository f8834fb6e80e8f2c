"""A submission server for the email plugin's tests: aiosmtpd with STARTTLS (or
implicit TLS) and AUTH (PLAIN/LOGIN against a users file, XOAUTH2 against an OAuth2
introspection URL), delivering every accepted mail to dovecot over LMTP.

Usage: smtp_relay.py PORT MODE(starttls|tls) CERT KEY LMTP_SOCKET USERS_FILE [INTROSPECT_URL]
Prints "READY" once it accepts connections."""

import asyncio, base64, json, logging, smtplib, ssl, sys, urllib.parse, urllib.request, warnings

warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword, SMTP

port, mode, cert, key, lmtp, users_file = sys.argv[1:7]
introspect = sys.argv[7] if len(sys.argv) > 7 else None
users = {}
for line in open(users_file):
    name, _, password = line.rstrip("\n").partition(":")
    users[name] = password

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)


class Relay:
    async def auth_XOAUTH2(self, server, args):
        if introspect is None:
            return AuthResult(success=False, handled=False)
        if len(args) > 1:
            blob = args[1]
        else:
            blob = await server.challenge_auth("", encode_to_b64=False)
            if blob is None:
                return AuthResult(success=False, handled=False)
            blob = blob.decode() if isinstance(blob, bytes) else blob
        fields = {}
        try:
            text = base64.b64decode(blob).decode()
            fields = dict(p.split("=", 1) for p in text.split("\x01") if "=" in p)
            token = fields.get("auth", "").removeprefix("Bearer ")
            body = urllib.parse.urlencode({"token": token}).encode()
            answer = json.load(urllib.request.urlopen(introspect, body, timeout=5))
            ok = answer.get("active") is True and answer.get("username") == fields.get("user")
        except Exception:
            ok = False
        return AuthResult(success=ok, handled=False, auth_data=fields.get("user") if ok else None)

    async def handle_DATA(self, server, session, envelope):
        try:
            # One LMTP transaction per recipient: smtplib reads a single answer
            # after DATA, where LMTP gives one per recipient.
            for rcpt in envelope.rcpt_tos:
                with smtplib.LMTP(lmtp) as client:
                    client.sendmail(envelope.mail_from, [rcpt], envelope.original_content)
        except smtplib.SMTPRecipientsRefused:
            return "550 unknown recipient"
        except Exception as error:
            return "451 delivery failed: %s" % type(error).__name__
        return "250 delivered"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        name = auth_data.login.decode()
        ok = users.get(name) == auth_data.password.decode()
        return AuthResult(success=ok)
    return AuthResult(success=False, handled=False)


class Starter(Controller):
    def factory(self):
        return SMTP(
            self.handler,
            hostname="localhost",
            tls_context=context if mode == "starttls" else None,
            require_starttls=mode == "starttls",
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=mode == "starttls",
        )


kwargs = {"ssl_context": context} if mode == "tls" else {}
controller = Starter(Relay(), hostname="127.0.0.1", port=int(port), ready_timeout=5, **kwargs)
controller.start()
print("READY", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()

#!/usr/bin/env python3
"""End-to-end check of the local test mail servers started by `deploy/services up`.

Run as `deploy/services selftest`, which passes the settings of `deploy/services env`
in the environment. Uses only the standard library; every connection verifies the
server certificate against the private CA, host name included. Each run uses a fresh
folder name, so it can be repeated; it leaves its probe mails in place.
"""
import imaplib
import os
import smtplib
import ssl
import sys
import time
import uuid
from email.message import EmailMessage

ENV = os.environ
CA = ENV["KRM_IMAP_CA_FILE"]
IMAP_PORT = int(ENV["KRM_IMAP_PORT"])
IMAPS_PORT = int(ENV["KRM_TEST_IMAPS_PORT"])
NOIDLE_PORT = int(ENV["KRM_TEST_IMAP_NOIDLE_PORT"])
SMTP_PORT = int(ENV["KRM_TEST_SMTP_PORT"])
SUBMISSION_PORT = int(ENV["KRM_TEST_SUBMISSION_PORT"])
OMBUDS = ENV["KRM_IMAP_USERNAME"]
OMBUDS_PW = ENV["KRM_IMAP_PASSWORD"]
BUERGER, BUERGER_PW = "buerger@mail.test", ENV["KRM_TEST_PASSWORD_BUERGER"]
LEITUNG, LEITUNG_PW = "leitung@jobcenter.test", ENV["KRM_TEST_PASSWORD_LEITUNG"]
BIG = "--big" in sys.argv

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def tls_context():
    ctx = ssl.create_default_context(cafile=CA)  # check_hostname + CERT_REQUIRED
    return ctx


def message(to, subject, body="Probe from deploy/services selftest.\n"):
    msg = EmailMessage()
    msg["From"] = "buerger@mail.test"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4()}@selftest.krm.test>"
    msg.set_content(body)
    return msg


def smtp(port=SMTP_PORT, host="127.0.0.1"):
    s = smtplib.SMTP(host, port, local_hostname="selftest.krm.test", timeout=30)
    s.ehlo()
    s.starttls(context=tls_context())
    s.ehlo()
    return s


def imap_starttls(port=IMAP_PORT, host="127.0.0.1"):
    c = imaplib.IMAP4(host, port, timeout=30)
    c.starttls(ssl_context=tls_context())
    return c


def capabilities(c):
    typ, data = c.capability()
    assert typ == "OK", data
    return set(data[0].decode().upper().split())


def wait_for(c, mailbox, subject, timeout=10.0):
    """Poll until a mail with this subject is in mailbox; returns seconds waited or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        typ, _ = c.select(f'"{mailbox}"', readonly=True)
        if typ == "OK":
            typ, data = c.search(None, "SUBJECT", f'"{subject}"')
            if typ == "OK" and data[0].split():
                return time.monotonic() - start
        time.sleep(0.05)
    return None


def main():
    run = time.strftime("%H%M%S") + uuid.uuid4().hex[:4]
    folder = f"probe{run}"

    # 1. SMTP 10025 + STARTTLS -> ombudsstelle+folder -> folder
    subject = f"selftest detail {run}"
    s = smtp()
    check(s.has_extn("size") and int(s.esmtp_features["size"]) >= 60 * 1024 * 1024,
          f"SMTP {SMTP_PORT}: STARTTLS ok, SIZE {s.esmtp_features.get('size')} >= 60 MB")
    check(not s.has_extn("auth"), f"SMTP {SMTP_PORT}: no AUTH offered (plain injection port)")
    t0 = time.monotonic()
    s.send_message(message(f"ombudsstelle+{folder}@jobcenter.test", subject))

    # 2. ... over IMAP STARTTLS 10143
    c = imap_starttls()
    check("IDLE" in capabilities(c), f"IMAP {IMAP_PORT}: IDLE advertised before login")
    c.login(OMBUDS, OMBUDS_PW)
    caps = capabilities(c)
    check({"IDLE", "MOVE"} <= caps, f"IMAP {IMAP_PORT}: IDLE and MOVE advertised after login")
    waited = wait_for(c, folder, subject)
    check(waited is not None,
          f"IMAP {IMAP_PORT} STARTTLS: mail to ombudsstelle+{folder}@ in folder {folder}"
          + (f" ({(time.monotonic() - t0) * 1000:.0f} ms after send)" if waited is not None else ""))
    typ, data = c.list('""', '""')
    sep = data[0].decode().split('"')[1] if typ == "OK" else "?"
    check(sep == "/", f"IMAP hierarchy separator is {sep!r}")
    typ, data = c.lsub('""', folder)
    check(typ == "OK" and data[0] is not None, f"folder {folder} auto-subscribed")
    c.logout()

    # 3. ... and over implicit TLS 10993 (host name "localhost" checked against the SAN)
    c = imaplib.IMAP4_SSL("localhost", IMAPS_PORT, ssl_context=tls_context(), timeout=30)
    c.login(OMBUDS, OMBUDS_PW)
    check(wait_for(c, folder, subject, timeout=2) is not None,
          f"IMAPS {IMAPS_PORT} (localhost): mail in folder {folder}")
    c.logout()

    # 4. foreign recipient rejected at RCPT, unknown test user too
    s.mail("ombudsstelle@jobcenter.test")
    code, text = s.rcpt("someone@example.org")
    check(500 <= code < 600, f"RCPT someone@example.org rejected: {code} {text.decode()}")
    code, text = s.rcpt("nobody@jobcenter.test")
    check(500 <= code < 600, f"RCPT nobody@jobcenter.test rejected: {code} {text.decode()}")
    s.rset()

    # 5. plain address -> INBOX of buerger
    subject_b = f"selftest inbox {run}"
    s.send_message(message(BUERGER, subject_b))
    s.quit()
    c = imap_starttls()
    c.login(BUERGER, BUERGER_PW)
    check(wait_for(c, "INBOX", subject_b) is not None, "mail to buerger@mail.test in INBOX")
    c.logout()

    # 6. no-IDLE instance: capabilities before and after login lack IDLE and MOVE
    c = imaplib.IMAP4("127.0.0.1", NOIDLE_PORT, timeout=30)
    pre = capabilities(c)
    check(not ({"IDLE", "MOVE"} & pre) and "STARTTLS" in pre,
          f"IMAP {NOIDLE_PORT}: no IDLE/MOVE before login (STARTTLS offered)")
    c.starttls(ssl_context=tls_context())
    c.login(OMBUDS, OMBUDS_PW)
    post = capabilities(c)
    check(not ({"IDLE", "MOVE"} & post) and "UIDPLUS" in post,
          f"IMAP {NOIDLE_PORT}: no IDLE/MOVE after login (UIDPLUS still there)")
    # imap_capability in noidle.conf is a hand-written copy of Dovecot's list.
    missing = caps - post - {"IDLE", "MOVE"}
    check(not missing, f"IMAP {NOIDLE_PORT}: otherwise the same capabilities as {IMAP_PORT}"
          + (f" (missing {sorted(missing)})" if missing else ""))
    check(wait_for(c, folder, subject, timeout=2) is not None,
          f"IMAP {NOIDLE_PORT}: same mailbox (mail in {folder})")
    c.logout()

    # 7. submission: AUTH only after STARTTLS, then relaying into the test domains only
    s = smtplib.SMTP("127.0.0.1", SUBMISSION_PORT, local_hostname="selftest.krm.test", timeout=30)
    s.ehlo()
    check(not s.has_extn("auth"), f"submission {SUBMISSION_PORT}: no AUTH before STARTTLS")
    s.starttls(context=tls_context())
    s.ehlo()
    check("PLAIN" in s.esmtp_features.get("auth", "").upper(),
          f"submission {SUBMISSION_PORT}: AUTH {s.esmtp_features.get('auth', '').strip()} after STARTTLS")
    try:
        s.login(OMBUDS, "wrong password")
        check(False, "submission: wrong password rejected")
    except smtplib.SMTPAuthenticationError as e:
        check(e.smtp_code == 535, f"submission: wrong password rejected ({e.smtp_code})")
    s.login(OMBUDS, OMBUDS_PW)
    s.mail(OMBUDS)
    code, _ = s.rcpt("someone@example.org")
    check(500 <= code < 600, f"submission: foreign recipient rejected after AUTH ({code})")
    s.rset()
    subject_l = f"selftest submission {run}"
    s.send_message(message(LEITUNG, subject_l), from_addr=OMBUDS)
    s.quit()
    c = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=tls_context(), timeout=30)
    c.login(LEITUNG, LEITUNG_PW)
    check(wait_for(c, "INBOX", subject_l) is not None, "authenticated submission delivered to leitung")
    c.logout()

    s = smtplib.SMTP("127.0.0.1", SUBMISSION_PORT, timeout=30)
    s.starttls(context=tls_context())
    s.ehlo()
    s.mail(OMBUDS)
    code, _ = s.rcpt(LEITUNG)
    check(500 <= code < 600, f"submission: unauthenticated RCPT rejected ({code})")
    s.quit()

    # 8. optional: one 40 MB message through SMTP -> LMTP -> IMAP
    if BIG:
        subject_big = f"selftest big {run}"
        body = ("x" * 76 + "\n") * (40 * 1024 * 1024 // 77)
        t0 = time.monotonic()
        s = smtp()
        s.send_message(message(f"ombudsstelle+{folder}@jobcenter.test", subject_big, body))
        s.quit()
        c = imap_starttls()
        c.login(OMBUDS, OMBUDS_PW)
        ok = wait_for(c, folder, subject_big, timeout=60) is not None
        check(ok, f"40 MB mail delivered in {time.monotonic() - t0:.1f} s")
        c.logout()

    print(f"{failures} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, imaplib.IMAP4.error, smtplib.SMTPException) as e:
        print(f"FAIL {type(e).__name__}: {e} (is `deploy/services up` done? see `deploy/services status`)")
        sys.exit(1)

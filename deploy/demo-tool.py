#!/usr/bin/env python3
"""Helper for deploy/demo: deliver sample mails over SMTP and show a received acknowledgement.

Uses only the standard library and the KRM_* settings printed by `deploy/services env`.
Mail to ombudsstelle+FOLDER@jobcenter.test lands in the Ombudsstelle's folder FOLDER; the
sender address gets the same +FOLDER detail, so its acknowledgement lands in its folder FOLDER.
"""
import email
import email.policy
import imaplib
import os
import smtplib
import ssl
import sys
import time


def tls_context():
    return ssl.create_default_context(cafile=os.environ["KRM_SMTP_CA_FILE"])


def with_detail(addr, folder):
    local, domain = addr.split("@", 1)
    return f"{local}+{folder}@{domain}"


def send(folder, files):
    host = os.environ["KRM_SMTP_HOST"]
    port = int(os.environ.get("KRM_TEST_SMTP_PORT", os.environ["KRM_SMTP_PORT"]))
    with smtplib.SMTP(host, port, timeout=20) as s:
        s.starttls(context=tls_context())
        for path in files:
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.SMTP)
            sender = email.utils.parseaddr(msg["From"])[1]
            new_sender = with_detail(sender, folder)
            name = email.utils.parseaddr(msg["From"])[0]
            del msg["From"]
            msg["From"] = email.utils.formataddr((name, new_sender))
            del msg["Message-ID"]
            msg["Message-ID"] = email.utils.make_msgid(domain=sender.split("@")[1])
            s.sendmail(new_sender, [with_detail("ombudsstelle@jobcenter.test", folder)], msg.as_bytes())
            print(f"  zugestellt: {os.path.basename(path)}")
    # Wait until Dovecot has all of them.
    wait_for("ombudsstelle@jobcenter.test", folder, len(files))


def login(user):
    imap = imaplib.IMAP4(os.environ["KRM_IMAP_HOST"], int(os.environ["KRM_IMAP_PORT"]))
    imap.starttls(ssl_context=tls_context())
    local = user.split("@")[0].upper().replace("-", "_").replace(".", "_")
    imap.login(user, os.environ[f"KRM_TEST_PASSWORD_{local}"])
    return imap


def wait_for(user, folder, n):
    for _ in range(100):
        imap = login(user)
        typ, data = imap.select(f'"{folder}"', readonly=True)
        count = int(data[0]) if typ == "OK" else 0
        imap.logout()
        if count >= n:
            return
        time.sleep(0.2)
    sys.exit(f"{user}/{folder}: expected {n} mails")


def show_ack(user, folder):
    wait_for(user, folder, 1)
    imap = login(user)
    imap.select(f'"{folder}"', readonly=True)
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    raw = data[0][1]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for h in ("From", "To", "Subject", "Message-ID", "In-Reply-To", "Auto-Submitted", "X-Auto-Response-Suppress"):
        print(f"{h}: {msg[h]}")
    print()
    print(msg.get_content())
    imap.logout()


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "show-ack":
        show_ack(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: demo-tool.py send FOLDER FILE… | show-ack USER FOLDER")

"""Realistic, deterministic test mails for the krm-intake benchmark (stdlib only).

German text in UTF-8 (8bit and quoted-printable), ISO-8859-1 quoted-printable and HTML-only
bodies, multipart/alternative, 5 % with a ~200 KB attachment, RFC 2047 subjects, a mix of
counselling-centre and citizen senders, follow-ups (In-Reply-To an earlier mail of the same run)
and a few auto-replies. Every sender address carries `+<folder>` so that acknowledgements land in
a per-run folder of one of the local test users (deploy/services.d/users) and can be deleted.

    python3 deploy/bench.d/genmail.py OUTDIR [N] [FOLDER]   # writes OUTDIR/000001.eml …
"""

import base64
import quopri
import random
import sys
from email.header import Header
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

VORNAMEN = ["Anna", "Jürgen", "Sabine", "Thomas", "Käthe", "Mehmet", "Olga", "Björn", "Jörg",
            "Ute", "Lena", "Günther", "Fatma", "Sören", "Marie", "Paul", "Zoë", "Rüdiger"]
NACHNAMEN = ["Müller", "Schäfer", "Weiß", "Krüger", "Böhm", "Schröder", "Hoffmann", "Köhler",
             "Yılmaz", "Nowak", "Groß", "Lehmann", "Fuchs", "Jäger", "Wünsche", "Große"]

TOPICS = [
    ("Bearbeitungsdauer meines Weiterbewilligungsantrags – bitte um Prüfung",
     ["Mein Weiterbewilligungsantrag liegt seit über acht Wochen beim Jobcenter.",
      "Ich habe mehrfach angerufen, aber niemand konnte mir sagen, wann über den Antrag entschieden wird.",
      "Ohne Bescheid kann ich die Miete für den nächsten Monat nicht überweisen.",
      "Die Unterlagen habe ich vollständig und fristgerecht eingereicht, der Eingang wurde mir bestätigt."]),
    ("Zusicherung für Umzug und Mietkaution",
     ["Ich muss wegen einer Kündigung des Vermieters umziehen und habe eine neue Wohnung gefunden.",
      "Die Zusicherung zur Übernahme der Mietkaution wurde mir bisher nicht erteilt.",
      "Der Vermieter verlangt die Kaution bis Ende des Monats, sonst ist die Wohnung weg.",
      "Ich bitte Sie, sich dafür einzusetzen, dass über meinen Antrag zügig entschieden wird."]),
    ("Kosten der Unterkunft – Heizkostennachzahlung",
     ["Die Heizkostennachzahlung aus der Jahresabrechnung wurde nur teilweise übernommen.",
      "Im Bescheid steht, dass die Kosten unangemessen seien, obwohl wir seit Jahren hier wohnen.",
      "Ich verstehe die Berechnung nicht und hätte gern eine Erklärung in einfacher Sprache.",
      "Gegen den Bescheid habe ich fristgerecht Widerspruch eingelegt."]),
    ("Bildung und Teilhabe – Klassenfahrt",
     ["Für die Klassenfahrt meiner Tochter habe ich vor sechs Wochen einen Antrag gestellt.",
      "Die Schule braucht das Geld bis Freitag, sonst darf sie nicht mitfahren.",
      "Das Formular für das Mittagessen wurde ebenfalls noch nicht bearbeitet.",
      "Es wäre schön, wenn die Leistungen für Bildung und Teilhabe einfacher zu beantragen wären."]),
    ("Erreichbarkeit der Sachbearbeitung – kein Rückruf",
     ["Seit drei Wochen versuche ich, meine Sachbearbeiterin telefonisch zu erreichen.",
      "Die Hotline verweist mich jedes Mal auf einen Rückruf, der nie erfolgt.",
      "Meine E-Mails an das Funktionspostfach bleiben ohne Antwort.",
      "Ich würde mir wünschen, dass man wenigstens einen Termin vereinbaren kann."]),
    ("Verhalten eines Mitarbeiters beim Termin",
     ["Beim letzten Termin wurde ich vor anderen Wartenden laut angesprochen.",
      "Ich habe mich dabei sehr unwohl gefühlt und möchte mich darüber beschweren.",
      "Mir wurde gesagt, ich solle mich nicht so anstellen, das empfinde ich als respektlos.",
      "Ich bitte um ein klärendes Gespräch mit der Teamleitung."]),
    ("Lob für die schnelle Hilfe",
     ["Ich möchte mich ausdrücklich bei Frau Schneider für die schnelle Hilfe bedanken.",
      "Innerhalb von zwei Tagen war alles geklärt, das hätte ich nicht erwartet.",
      "Bitte geben Sie dieses Lob an das ganze Team weiter.",
      "So freundlich bin ich selten behandelt worden, vielen Dank!"]),
    ("Anregung: Online-Terminvergabe für Berufstätige",
     ["Es wäre eine große Erleichterung, wenn man Termine online buchen könnte.",
      "Viele Menschen in meiner Nachbarschaft arbeiten im Schichtdienst und können nicht anrufen.",
      "Auch eine Eingangsbestätigung für eingereichte Unterlagen per E-Mail wäre hilfreich.",
      "Vielleicht lässt sich das ja im nächsten Jahr umsetzen."]),
    ("Leistungsminderung wegen Meldeversäumnis",
     ["Mir wurde eine Leistungsminderung angekündigt, weil ich einen Termin versäumt haben soll.",
      "Die Einladung habe ich aber nie erhalten, der Briefkasten war in dieser Zeit defekt.",
      "Eine Bescheinigung der Hausverwaltung über den defekten Briefkasten liegt mir vor.",
      "Ich bitte darum, die Minderung noch einmal zu prüfen."]),
]

FILLER = [
    "Ich bin alleinerziehend und auf die Leistungen angewiesen.",
    "Mein Kundennummer lautet 123D456789, die Bedarfsgemeinschaftsnummer 07201//0012345.",
    "Über eine kurze Rückmeldung würde ich mich sehr freuen.",
    "Ich habe bereits eine Beratungsstelle aufgesucht, dort wurde mir geraten, mich an Sie zu wenden.",
    "Eine Kopie des Schreibens vom 3. März füge ich bei.",
    "Bitte entschuldigen Sie eventuelle Fehler, Deutsch ist nicht meine Muttersprache.",
    "Sie erreichen mich am besten vormittags zwischen 9 und 12 Uhr.",
    "Mir ist bewusst, dass die Mitarbeiterinnen und Mitarbeiter viel zu tun haben.",
]

GREETINGS = ["Sehr geehrte Damen und Herren,", "Sehr geehrte Ombudsstelle,",
             "Guten Tag,", "Hallo liebes Team der Ombudsstelle,"]
CLOSINGS = ["Mit freundlichen Grüßen", "Viele Grüße", "Freundliche Grüße", "Mit besten Grüßen"]

# Counselling centres the shipped rules (rules/senders.toml) recognise, restricted to the domains
# the local Postfix delivers (so acknowledgements really arrive): local part, domain, signature.
CENTRES = [
    ("beratung", "caritas-dresden.test",
     "Caritasverband für Dresden e.V.\nSchuldner- und Insolvenzberatung\nMagdeburger Str. 60, 01067 Dresden"),
    ("beratung", "caritas-dresden.test",
     "Caritasverband für Dresden e.V.\nSchwangerschaftsberatung\nTel. 0351 000000"),
    ("beratung", "caritas-dresden.test", "Caritasverband für Dresden e.V."),
    ("info", "beratung-mittelpunkt.test",
     "Beratungsstelle Mittelpunkt\nSozialberatung für Erwerbslose\nwww.beratung-mittelpunkt.test"),
]
# Counsellors and volunteers writing from a freemail address: the signature tells who they are.
FREEMAIL_SIGNATURES = [
    "Caritas Schuldnerberatung Dresden\n(Ich schreibe von meiner privaten Adresse)",
    "Migrationsberatung für Erwachsene (MBE)\nDiakonie Dresden",
    "ehrenamtliche Betreuerin von Frau K.",
]


def _crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _subject_header(subject, rnd):
    """RFC 2047: UTF-8 base64 or ISO-8859-1 Q encoding for non-ASCII subjects."""
    if subject.isascii():
        return subject
    if rnd.random() < 0.5:
        return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
    try:
        subject.encode("latin-1")
        return Header(subject, "iso-8859-1", header_name="Subject").encode(linesep="\r\n")
    except UnicodeEncodeError:
        return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _addr_header(name, addr):
    if name is None:
        return addr
    if name.isascii():
        return f'"{name}" <{addr}>'
    return Header(name, "utf-8").encode() + f" <{addr}>"


def _qp(data):
    return quopri.encodestring(data).decode("ascii")


def _html(text):
    paras = "".join(
        f"<p>{p.replace('&', '&amp;').replace('<', '&lt;').replace(chr(10), '<br>')}</p>\n"
        for p in text.split("\n\n"))
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>p{font-family:Arial}</style>"
            f"</head><body>\n{paras}</body></html>\n")


def _text_part(text, rnd, kind):
    """Headers + body of one leaf part. kind: utf8, utf8qp, latin1qp, html."""
    if kind == "utf8":
        return ("Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n" + _crlf(text))
    if kind == "utf8qp":
        return ("Content-Type: text/plain; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                + _crlf(_qp(text.encode("utf-8"))))
    if kind == "latin1qp":
        data = text.encode("latin-1", errors="replace")
        return ("Content-Type: text/plain; charset=ISO-8859-1\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + _crlf(_qp(data)))
    if kind == "html":
        return ("Content-Type: text/html; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                + _crlf(_qp(_html(text).encode("utf-8"))))
    raise ValueError(kind)


def _b64_lines(data):
    enc = base64.b64encode(data).decode("ascii")
    return "\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\r\n"


def _body_text(rnd, topic_lines, signature, closing_name):
    n = rnd.randint(2, 4)
    lines = rnd.sample(topic_lines, min(n, len(topic_lines)))
    lines += rnd.sample(FILLER, rnd.randint(1, 3))
    paras = []
    while lines:
        k = rnd.randint(1, 3)
        paras.append(" ".join(lines[:k]))
        lines = lines[k:]
    text = rnd.choice(GREETINGS) + "\n\n" + "\n\n".join(paras) + "\n\n" + rnd.choice(CLOSINGS)
    text += "\n" + closing_name
    if signature:
        text += "\n\n-- \n" + signature
    return text + "\n"


class Generator:
    """Deterministic: the same (seed, folder) gives the same mails."""

    def __init__(self, folder, seed=42, run_id="bench"):
        self.folder = folder
        self.rnd = random.Random(seed)
        self.run_id = run_id
        self.sent = []  # (message_id, subject) of earlier mails, for follow-ups
        self.base_date = datetime(2026, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=1)))
        self.attachment = random.Random(seed + 1).randbytes(200 * 1024)

    def citizen(self):
        r = self.rnd
        v, n = r.choice(VORNAMEN), r.choice(NACHNAMEN)
        return f"{v} {n}", f"buerger+{self.folder}@mail.test"

    def mail(self, i):
        """Raw bytes (CRLF) of mail number i."""
        r = self.rnd
        kind_roll = r.random()
        cc = None
        reply_to = None
        signature = None
        auto = False
        if kind_roll < 0.14:  # counselling centre from its own domain
            local, dom, signature = r.choice(CENTRES)
            name = r.choice(["Beratung", None, "Sozialberatung"])
            addr = f"{local}+{self.folder}@{dom}"
            closing = f"{r.choice(VORNAMEN)} {r.choice(NACHNAMEN)}"
        elif kind_roll < 0.20:  # counsellor or volunteer from a freemail address
            name, addr = self.citizen()
            signature = r.choice(FREEMAIL_SIGNATURES)
            closing = name
        elif kind_roll < 0.23:  # member of the initiative, recognised by the display name
            _, addr = self.citizen()
            name = "Arbeitsloseninitiative Dresden"
            closing = f"{r.choice(VORNAMEN)} {r.choice(NACHNAMEN)}"
        elif kind_roll < 0.30:  # citizen with the counsellor in Cc
            name, addr = self.citizen()
            cc = f"beratung+{self.folder}@caritas-dresden.test"
            closing = name
        elif kind_roll < 0.31:  # out-of-office reply
            name, addr = self.citizen()
            auto = True
            closing = name
        else:  # citizen writing for themselves (sometimes mentioning a centre in the body)
            name, addr = self.citizen()
            closing = name
        if kind_roll >= 0.31 and r.random() < 0.05:
            reply_to = addr

        topic, topic_lines = r.choice(TOPICS)
        subject = topic
        in_reply_to = None
        if not auto and self.sent and r.random() < 0.08:
            in_reply_to, prev_subject = r.choice(self.sent[-500:])
            subject = "AW: " + prev_subject
        if auto:
            subject = "Automatische Antwort: Abwesenheit bis 30.11."
            text = ("Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 30.11. nicht im "
                    "Büro.\nIhre E-Mail wird nicht weitergeleitet.\n")
        else:
            text = _body_text(r, topic_lines, signature, closing)
            if kind_roll >= 0.31 and r.random() < 0.1:
                text = text.replace("\n\nMit", "\n\nDie Caritas-Schuldnerberatung hat mir "
                                    "geraten, Ihnen zu schreiben.\n\nMit", 1)
            if in_reply_to:
                quoted = "\n".join("> " + ln for ln in _body_text(r, topic_lines, None, "")
                                   .splitlines())
                text += "\n\nAm 12.11.2026 um 09:14 schrieb Ombudsstelle:\n" + quoted + "\n"

        message_id = f"<{self.run_id}.{i}.{r.getrandbits(48):012x}@mail.test>"
        date = self.base_date + timedelta(seconds=37 * i)
        h = [f"Return-Path: <{addr}>",
             f"From: {_addr_header(name, addr)}",
             "To: Ombudsstelle Jobcenter <ombudsstelle@jobcenter.test>"]
        if cc:
            h.append(f"Cc: Caritas Schuldnerberatung <{cc}>")
        if reply_to:
            h.append(f"Reply-To: {reply_to}")
        h += [f"Subject: {_subject_header(subject, r)}",
              f"Date: {format_datetime(date)}",
              f"Message-ID: {message_id}",
              "MIME-Version: 1.0"]
        if in_reply_to:
            h += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
        if auto:
            h += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"]
        h.append("User-Agent: " + r.choice(["Thunderbird/128.4", "Microsoft Outlook 16.0",
                                            "Roundcube Webmail/1.6", "K-9 Mail"]))

        enc_roll = r.random()
        if enc_roll < 0.40:
            leaf = "utf8"
        elif enc_roll < 0.55:
            leaf = "utf8qp"
        elif enc_roll < 0.80:
            leaf = "latin1qp"
        else:
            leaf = "html"
        with_attachment = (i % 20) == 7  # exactly 5 %
        alternative = leaf != "html" and r.random() < 0.15

        if alternative:
            b = f"alt-{i:06d}-{r.getrandbits(32):08x}"
            inner = (f"Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n"
                     f"--{b}\r\n{_text_part(text, r, leaf)}\r\n"
                     f"--{b}\r\n{_text_part(text, r, 'html')}\r\n--{b}--\r\n")
        else:
            inner = _text_part(text, r, leaf)
        if with_attachment:
            b = f"mix-{i:06d}-{r.getrandbits(32):08x}"
            fname = r.choice(["Bescheid_Scan.pdf", "Widerspruch.pdf", "Kontoauszug März.pdf"])
            fname_h = Header(fname, "utf-8").encode() if not fname.isascii() else fname
            body = (f"Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n"
                    "This is a multi-part message in MIME format.\r\n"
                    f"--{b}\r\n{inner}\r\n"
                    f"--{b}\r\nContent-Type: application/pdf; name=\"{fname_h}\"\r\n"
                    f"Content-Disposition: attachment; filename=\"{fname_h}\"\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n"
                    + _b64_lines(b"%PDF-1.4\n" + self.attachment) + f"--{b}--\r\n")
        else:
            body = inner
        if not auto:
            self.sent.append((message_id, subject))
        raw = "\r\n".join(h) + "\r\n" + body
        return raw.encode("utf-8")


def big_mail(folder, size, seed=7):
    """One mail of about `size` raw bytes: short text plus one large base64 attachment."""
    r = random.Random(seed)
    payload = r.randbytes(int(size * 0.75) - 4096)
    b = "big-boundary-0001"
    addr = f"buerger+{folder}@mail.test"
    raw = ("From: Jürgen Krüger <" + addr + ">\r\n"
           "To: ombudsstelle@jobcenter.test\r\n"
           f"Subject: {Header('Unterlagen für den Widerspruch (große Datei)', 'utf-8').encode()}\r\n"
           "Date: Fri, 20 Nov 2026 10:00:00 +0100\r\n"
           f"Message-ID: <big.{r.getrandbits(48):012x}@mail.test>\r\n"
           "MIME-Version: 1.0\r\n"
           f"Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n"
           f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Sehr geehrte Damen und Herren,\r\n\r\nanbei alle Unterlagen als Scan.\r\n\r\n"
           "Mit freundlichen Grüßen\r\nJürgen Krüger\r\n\r\n"
           f"--{b}\r\nContent-Type: application/pdf; name=\"Unterlagen.pdf\"\r\n"
           "Content-Disposition: attachment; filename=\"Unterlagen.pdf\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n")
    return raw.encode("utf-8") + _b64_lines(payload).encode("ascii") + f"--{b}--\r\n".encode()


def simple_mail(folder, i, run_id):
    """A short citizen mail for the latency test; Message-ID returned for matching the ack."""
    mid = f"<{run_id}.lat.{i}@mail.test>"
    addr = f"buerger+{folder}@mail.test"
    subject = Header(f"Beschwerde Nr. {i}: Bearbeitungsdauer", "utf-8").encode()
    raw = (f"From: Käthe Müller <{addr}>\r\nTo: ombudsstelle@jobcenter.test\r\n"
           f"Subject: {subject}\r\nDate: {format_datetime(datetime.now(timezone.utc))}\r\n"
           f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Guten Tag,\r\n\r\nmein Antrag wird seit Wochen nicht bearbeitet. Bitte helfen Sie mir.\r\n\r\n"
           "Mit freundlichen Grüßen\r\nKäthe Müller\r\n")
    return mid, raw.encode("utf-8")


if __name__ == "__main__":
    import os
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    folder = sys.argv[3] if len(sys.argv) > 3 else "bench"
    os.makedirs(out, exist_ok=True)
    g = Generator(folder)
    for i in range(1, n + 1):
        with open(os.path.join(out, f"{i:06d}.eml"), "wb") as f:
            f.write(g.mail(i))

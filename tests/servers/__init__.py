"""Real mail servers on loopback for the tests and benchmarks: Dovecot (POP3 + IMAP) and an
SMTP server (aiosmtpd) that delivers into Dovecot's maildirs."""

from tests.servers.dovecot import DovecotServer, MailUser
from tests.servers.smtp import SmtpServer

__all__ = ["DovecotServer", "MailUser", "SmtpServer"]

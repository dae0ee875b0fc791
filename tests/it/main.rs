//! Integration tests against the real servers started by `deploy/services up`:
//! PostgreSQL, Dovecot (IMAP) and Postfix (SMTP delivering into Dovecot). One test binary.
//! Run them with `deploy/test`, which starts the services and exports their settings.

mod helpers;

mod ahead;
mod answers;
mod answers_capture;
mod decide;
mod digest;
mod errors;
mod failover;
mod foundation;
mod intake;
mod ops;
mod outbox_crash;
mod privacy;
mod proxy;
mod purge;
mod report;
mod rules_cli;
mod staff;
mod web;
mod web_admin;
mod web_case;
mod web_report;

//! krm-intake: the mail intake of a Jobcenter Ombudsstelle's complaints management (KRM).
//! IMAP inbox → parse → sender rules → case in PostgreSQL → acknowledgement; deadlines and
//! reminder digests for staff; a staff CLI and the yearly report.

pub mod accounts;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod domain;
pub mod explain;
pub mod failpoint;
pub mod health;
pub mod http;
pub mod intake;
pub mod mailbox;
pub mod message;
pub mod metrics;
pub mod outbox;
pub mod purge;
pub mod report;
pub mod rules;
pub mod scan;
pub mod smtp;
pub mod staff;
pub mod stop;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod tls;
pub mod web;

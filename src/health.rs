//! Shared liveness facts the daemon's tasks update and `/readyz` reads.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    imap_connected: AtomicBool,
    role: AtomicU8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Starting,
    /// Holds the intake lock and reads the mailbox.
    Active,
    /// Another instance holds the intake lock; this one only sends.
    Standby,
}

impl Health {
    pub fn set_imap(&self, up: bool) {
        self.imap_connected.store(up, Ordering::Relaxed);
    }
    pub fn imap_connected(&self) -> bool {
        self.imap_connected.load(Ordering::Relaxed)
    }
    pub fn set_role(&self, r: Role) {
        self.role.store(r as u8, Ordering::Relaxed);
    }
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            1 => Role::Active,
            2 => Role::Standby,
            _ => Role::Starting,
        }
    }
}

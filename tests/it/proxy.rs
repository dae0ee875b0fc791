//! A small TCP proxy in front of a real server, so a test can cut the connection (and refuse
//! new ones) without stopping the server that other tests use in parallel.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    cut_tx: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let (cut_tx, cut_rx) = watch::channel(0u64);
        let d = down.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = cut_rx.clone();
                // Only cuts after this connection was accepted concern it.
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::select! {
                        _ = tokio::io::copy(&mut cr, &mut sw) => {}
                        _ = tokio::io::copy(&mut sr, &mut cw) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, down, cut_tx }
    }

    /// Drops every open connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut_tx.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

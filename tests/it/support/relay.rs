//! A TCP relay in front of a real service, to stage its outages: up (every byte both ways),
//! down (connections closed at once: nothing reaches the service), or answers lost (the
//! request reaches the service, which acts on it, but its answer never comes back). A change
//! of mode closes the connections open until then, so a client's pooled ones follow it too.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    Down,
    AnswersLost,
}

pub struct Relay {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Relays to `target` (`host:port`), up.
    pub async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (mode, watching) = watch::channel(Mode::Up);
        let target = target.to_string();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changed = watching.clone();
                let mode = *changed.borrow_and_update();
                let relayed = relay(client, target.clone(), mode);
                tokio::spawn(async move {
                    tokio::select! {
                        _ = relayed => {}
                        _ = changed.changed() => {}
                    }
                });
            }
        });
        Relay { url, mode, task }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, target: String, mode: Mode) {
    if mode == Mode::Down {
        return; // dropped: closed before anything was read
    }
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    if mode == Mode::Up {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    // Answers lost: pass the request on, read the answer, then close without it.
    let (mut asked, mut answer) = (vec![0u8; 64 * 1024], vec![0u8; 1024]);
    loop {
        tokio::select! {
            read = client.read(&mut asked) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if server.write_all(&asked[..n]).await.is_err() { return },
            },
            // The service has answered: the request was whole and acted on. Drop both.
            _ = server.read(&mut answer) => return,
        }
    }
}

//! The relay that carries kubectl on a Kubernetes session's workstation to the cluster's API
//! server. The workstation has no network; its `kube-relay` forwards the loopback address
//! kubectl is given ([`super::kube::RELAY_SERVER`]) to this socket in the session's endpoint
//! folder, and each connection is joined here to a new one to the API server. TLS runs end to
//! end between kubectl and the API server: kubectl checks the server's certificate and
//! authenticates with the candidate's token, whose RBAC binds it to the session's namespace;
//! the relay reads nothing and can reach nothing but that one address.

use std::time::Duration;

use tokio::net::{TcpStream, UnixListener};

/// The relay's socket, beside the session's Docker endpoint.
pub const SOCKET: &str = "kube.sock";
/// How long the API server may take to accept a connection.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// Serves `listener` until it fails: every connection is joined to a new one to `address`
/// (`host:port`). A connection that cannot be made is closed, which kubectl reports as the
/// server being out of reach.
pub async fn serve(listener: &UnixListener, address: &str) -> std::io::Result<()> {
    loop {
        let (mut inside, _) = listener.accept().await?;
        let address = address.to_string();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECT_DEADLINE, TcpStream::connect(&address)).await {
                Ok(Ok(mut server)) => {
                    let _ = tokio::io::copy_bidirectional(&mut inside, &mut server).await;
                }
                Ok(Err(e)) => {
                    eprintln!("kube relay: failed to reach the API server at {address}: {e}")
                }
                Err(_) => eprintln!(
                    "kube relay: failed to reach the API server at {address} within {}s",
                    CONNECT_DEADLINE.as_secs()
                ),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, UnixStream};

    #[tokio::test]
    async fn each_connection_is_carried_both_ways_to_the_one_address() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = server.local_addr().unwrap().to_string();
        let echo = tokio::spawn(async move {
            for _ in 0..2 {
                let (mut c, _) = server.accept().await.unwrap();
                let mut buf = [0u8; 5];
                c.read_exact(&mut buf).await.unwrap();
                c.write_all(&[&b"got "[..], &buf].concat()).await.unwrap();
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SOCKET);
        let listener = UnixListener::bind(&path).unwrap();
        let relay = tokio::spawn(async move { serve(&listener, &address).await });
        for word in ["hello", "again"] {
            let mut c = UnixStream::connect(&path).await.unwrap();
            c.write_all(word.as_bytes()).await.unwrap();
            let mut back = vec![0u8; 9];
            c.read_exact(&mut back).await.unwrap();
            assert_eq!(back, format!("got {word}").as_bytes());
        }
        echo.await.unwrap();
        relay.abort();
    }

    #[tokio::test]
    async fn a_server_out_of_reach_closes_the_connection_and_the_relay_goes_on() {
        // A port that was just free: nothing listens there.
        let address = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().to_string()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SOCKET);
        let listener = UnixListener::bind(&path).unwrap();
        let relay = tokio::spawn(async move { serve(&listener, &address).await });
        for _ in 0..2 {
            let mut c = UnixStream::connect(&path).await.unwrap();
            let mut buf = Vec::new();
            let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf))
                .await
                .expect("closed in time")
                .unwrap_or(0);
            assert_eq!(n, 0);
        }
        assert!(!relay.is_finished());
        relay.abort();
    }
}

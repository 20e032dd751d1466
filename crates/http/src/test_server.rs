//! Loopback servers for the tests: each answers its requests in turn, one per connection, with
//! answers written out byte for byte, and hands back the requests it received.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A bound listener and its `http://` URL, so that answers can name another server's URL.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Answers one request per answer, in order; the requests it received, as text.
pub fn serve(listener: TcpListener, answers: Vec<Vec<u8>>) -> JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut received = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().await.unwrap();
            received.push(read_request(&mut stream).await);
            stream.write_all(&answer).await.unwrap();
            stream.shutdown().await.unwrap();
        }
        received
    })
}

/// A server that answers one request with `answer` and hands back what it received.
pub async fn one_shot(answer: &str) -> (String, JoinHandle<String>) {
    let (listener, url) = bind().await;
    let served = serve(listener, vec![answer.as_bytes().to_vec()]);
    (url, tokio::spawn(async move { served.await.unwrap().remove(0) }))
}

/// An answer with `status`, extra header lines (each ending in CRLF) and `body`.
pub fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let head = format!("HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n", body.len());
    [head.as_bytes(), body].concat()
}

/// Headers, then a body of its Content-Length.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

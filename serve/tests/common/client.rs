//! A small HTTP/1.1 client over a plain TCP stream (keep-alive, Content-Length or chunked
//! bodies) for the tests of the host, in-process (`serve/tests`) or as a process
//! (`cli/tests/serve.rs`, which includes this file).
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error kind of a JSON error answer.
    pub fn kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("no error kind in {}", self.body))
            .to_owned()
    }
}

/// A keep-alive HTTP/1.1 client on one connection (reconnecting when the server closed it).
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        for attempt in 0..2 {
            if self.conn.is_none() {
                let s = TcpStream::connect(self.addr).expect("connect to the host");
                s.set_nodelay(true).ok();
                self.conn = Some(BufReader::new(s));
            }
            let conn = self.conn.as_mut().expect("connected");
            let sent = conn
                .get_mut()
                .write_all(head.as_bytes())
                .and_then(|()| conn.get_mut().write_all(body.as_bytes()));
            match sent.and_then(|()| read_response(conn)) {
                Ok(r) => {
                    if r.header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                    {
                        self.conn = None;
                    }
                    return r;
                }
                Err(e) if attempt == 0 => {
                    // The server closed an idle keep-alive connection: once more, anew.
                    let _ = e;
                    self.conn = None;
                }
                Err(e) => panic!("{method} {path}: {e}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    pub fn create(&mut self) -> (String, String) {
        let r = self.request("POST", "/sessions", None, Some("{}"));
        assert_eq!(r.status, 201, "{}", r.body);
        let j = r.json();
        (
            j["id"].as_str().expect("an id").to_owned(),
            j["token"].as_str().expect("a token").to_owned(),
        )
    }

    pub fn eval(&mut self, id: &str, token: &str, body: &Value) -> Resp {
        self.request(
            "POST",
            &format!("/sessions/{id}/eval"),
            Some(token),
            Some(&body.to_string()),
        )
    }

    /// Evaluates `expr` and answers its printString, failing the test on anything else.
    pub fn answer(&mut self, id: &str, token: &str, expr: &str) -> String {
        let r = self.eval(id, token, &serde_json::json!({ "expression": expr }));
        assert_eq!(r.status, 200, "{expr}: {}", r.body);
        let j = r.json();
        j["answer"]
            .as_str()
            .unwrap_or_else(|| panic!("{expr} stopped: {}", r.body))
            .to_owned()
    }

    pub fn get(&mut self, path: &str, token: Option<&str>) -> Resp {
        self.request("GET", path, token, None)
    }
}

fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<Resp> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(std::io::Error::other)?;
        body.resize(len, 0);
        conn.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; n + 2];
            conn.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The counter expression of the load generator: each session's own global, incremented.
pub const INCREMENT: &str =
    "Smalltalk at: #LoadCounter put: (Smalltalk at: #LoadCounter ifAbsent: [0]) + 1";

/// Polls `check` until it holds, for at most `limit` (a host's idle timer is the only thing
/// tests wait for).
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    check()
}

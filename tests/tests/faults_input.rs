//! Fault injection: hostile input against the real service binary. Oversized
//! bodies (declared or chunked), malformed bodies, a huge query string or
//! header, and slow clients are each refused within a bound, with the API's
//! error JSON where the service (rather than the HTTP parser) answers, and the
//! process keeps serving everyone else: no panic, no 500.

use std::time::{Duration, Instant};

use serde_json::Value;
use startupwebapp_tests::pg_cluster::PgCluster;
use startupwebapp_tests::service_process::{STOREFRONT, ServiceProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The slow-client limit for these tests (production default: 20 s).
const REQUEST_TIMEOUT_SECS: u64 = 2;

async fn start() -> (PgCluster, ServiceProcess) {
    let cluster = PgCluster::start().await;
    let database_url = cluster.migrated_database("storefront").await;
    let timeout = REQUEST_TIMEOUT_SECS.to_string();
    let mut service = ServiceProcess::spawn(
        &database_url,
        &[("APP_REQUEST_TIMEOUT_SECS", timeout.as_str())],
    )
    .await;
    service.wait_ready().await;
    (cluster, service)
}

/// The service still answers and has not crashed or logged a panic.
async fn still_serving(service: &mut ServiceProcess) {
    assert!(service.is_running(), "{}", service.output());
    let response = reqwest::Client::new()
        .get(service.url("/order/products"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the service still answers");
    assert_eq!(response.status(), 200);
    let output = service.output();
    assert!(!output.contains("panicked"), "{output}");
}

/// A raw HTTP/1.1 answer: status code, header block, body as text.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    head: String,
    body: String,
}

impl RawResponse {
    fn parse(bytes: &[u8]) -> Option<RawResponse> {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some(RawResponse {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        })
    }

    /// The body is the API's error envelope with `code`.
    fn assert_api_error(&self, code: &str) {
        assert!(
            self.head
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{self:?}"
        );
        let body: Value = serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!("error body is not JSON ({e}): {self:?}");
        });
        assert_eq!(body["errors"]["error"], code, "{self:?}");
    }
}

/// Sends `head`, then writes `body_chunks` chunks produced by `chunk` while
/// reading the answer; returns the answer once the server closes the
/// connection or stops sending (`within`).
async fn raw_exchange(
    service: &ServiceProcess,
    head: String,
    chunk: Vec<u8>,
    body_chunks: usize,
    within: Duration,
) -> RawResponse {
    let stream = TcpStream::connect(service.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for _ in 0..body_chunks {
            // The server may answer and close before the body is sent: the
            // write then fails, which is the point.
            writer.write_all(&chunk).await?;
        }
        writer.flush().await
    });
    let mut answer = Vec::new();
    let started = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if let Some(r) = RawResponse::parse(&answer)
                    && complete(&r)
                {
                    break;
                }
            }
        }
    }
    writing.abort();
    RawResponse::parse(&answer).unwrap_or_else(|| {
        panic!(
            "no HTTP answer within {within:?}: {:?}",
            String::from_utf8_lossy(&answer)
        )
    })
}

/// Whole when the body has reached its Content-Length.
fn complete(r: &RawResponse) -> bool {
    let length = r.head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    length.is_some_and(|n| r.body.len() >= n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_bodies_are_refused_with_413_and_the_service_keeps_serving() {
    let (_cluster, mut service) = start().await;
    const TEN_MB: usize = 10 * 1024 * 1024;
    let chunk = vec![b'a'; 64 * 1024];

    // Declared length: refused before the body is read.
    let started = Instant::now();
    let head = format!(
        "POST /order/cart-add-product-sku HTTP/1.1\r\nHost: {}\r\nOrigin: {STOREFRONT}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {TEN_MB}\r\n\r\n",
        service.addr
    );
    let answer = raw_exchange(
        &service,
        head,
        chunk.clone(),
        TEN_MB / chunk.len(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(answer.status, 413, "{answer:?}");
    answer.assert_api_error("payload-too-large");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Chunked, no declared length: read up to the cap, then refused.
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    let head = format!(
        "POST /order/cart-add-product-sku HTTP/1.1\r\nHost: {}\r\nOrigin: {STOREFRONT}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
        service.addr
    );
    let answer = raw_exchange(
        &service,
        head,
        framed,
        TEN_MB / chunk.len(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(answer.status, 413, "{answer:?}");
    answer.assert_api_error("payload-too-large");

    // The same through an ordinary client, a few times in parallel.
    let client = reqwest::Client::new();
    let posts = (0..4).map(|_| {
        client
            .post(service.url("/user/create-account"))
            .header("Origin", STOREFRONT)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; TEN_MB])
            .timeout(Duration::from_secs(10))
            .send()
    });
    // Refusing early may reset the connection under a client that is still
    // uploading; an answer that does arrive must be the 413.
    for response in futures_util::future::join_all(posts)
        .await
        .into_iter()
        .flatten()
    {
        assert_eq!(response.status(), 413);
    }
    still_serving(&mut service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_4xx_in_the_api_error_shape() {
    let (_cluster, mut service) = start().await;
    let browser = service.browser();
    let token = browser.fetch_csrf_token().await;
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        // Not form-encoded at all.
        (
            "/order/cart-add-product-sku",
            "application/json",
            br#"{"sku_id": 1"#.to_vec(),
            415,
            "unsupported-media-type",
        ),
    ];
    for (path, content_type, body, status, code) in cases {
        let response = browser
            .client
            .post(browser.url(path))
            .header("X-CSRFToken", &token)
            .header("Origin", STOREFRONT)
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("the service answers");
        let got = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(
            got,
            status,
            "{path} with {:?}: {text}",
            String::from_utf8_lossy(&body)
        );
        let json: Value = serde_json::from_str(&text).expect("JSON error body");
        assert_eq!(json["errors"]["error"], code, "{path}: {text}");
    }
    // Form-encoded but not UTF-8: decoded lossily, then refused field by
    // field like any other bad value (not a server error).
    let reply = browser
        .client
        .post(browser.url("/order/cart-add-product-sku"))
        .header("X-CSRFToken", &token)
        .header("Origin", STOREFRONT)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(b"sku_id=\xff\xfe&quantity=\xc3".to_vec())
        .send()
        .await
        .expect("the service answers");
    assert_eq!(reply.status(), 200);
    let reply: Value = reply.json().await.expect("JSON");
    assert_eq!(reply["cart_add_product_sku"], "error", "{reply}");
    assert_eq!(
        reply["errors"]["quantity"][0][0]["type"], "not_an_int",
        "{reply}"
    );
    still_serving(&mut service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_query_string_or_header_is_refused_within_bounds() {
    let (_cluster, mut service) = start().await;
    let client = reqwest::Client::new();

    // Long but within limits: answered normally.
    let response = client
        .get(service.url(&format!("/order/products?q={}", "a".repeat(8 * 1024))))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);

    // Past the bounds: a URI of 500 KiB (hyper: 414, or 431 when its ~400 KiB
    // read buffer fills before the request line is complete); a header value of
    // 40 KiB (our header cap, 32 KiB by default: 431 in the API's error
    // shape); one of 500 KiB (past hyper's ~400 KiB read buffer: hyper's own
    // bodiless 431); 500 headers (hyper's count limit: 431).
    let huge = "a".repeat(500 * 1024);
    let big = "a".repeat(40 * 1024);
    let cases = [
        (
            "query string",
            format!("GET /order/products?q={huge} HTTP/1.1\r\nHost: x\r\n\r\n"),
            &[414, 431][..],
        ),
        (
            "40 KiB header value",
            format!("GET /order/products HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"),
            &[431],
        ),
        (
            "500 KiB header value",
            format!("GET /order/products HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n"),
            &[431],
        ),
        (
            "header count",
            format!(
                "GET /order/products HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..500)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>()
            ),
            &[431],
        ),
    ];
    for (what, request, expected) in cases {
        let started = Instant::now();
        let answer = raw_exchange(&service, request, Vec::new(), 0, Duration::from_secs(5)).await;
        assert!(
            expected.contains(&answer.status),
            "huge {what}: expected one of {expected:?}, got {answer:?}"
        );
        if what == "40 KiB header value" {
            assert!(
                answer.body.contains(r#""error":"headers-too-large""#),
                "huge {what}: {answer:?}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "huge {what} took {:?}",
            started.elapsed()
        );
    }
    still_serving(&mut service).await;
}

/// Whether the server closed `stream` (reads EOF or an error) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An error answer (e.g. 408) is fine too; keep reading to the close.
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_without_blocking_others() {
    let (_cluster, mut service) = start().await;
    let limit = Duration::from_secs(REQUEST_TIMEOUT_SECS);
    let addr = service.addr;

    // Slowloris: headers one byte every 200 ms, never finished.
    let tricklers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let started = Instant::now();
                let request = b"GET /order/products HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec();
                for byte in request.iter().chain(std::iter::repeat(&b'a')) {
                    if stream.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    if started.elapsed() > limit * 4 {
                        break;
                    }
                    // Reading shows a close before the next write would fail.
                    let mut probe = [0u8; 64];
                    match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut probe))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        _ => {}
                    }
                }
                started.elapsed()
            })
        })
        .collect();
    // A client that connects and says nothing.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let silent_started = Instant::now();

    // Meanwhile everyone else is served promptly.
    let client = reqwest::Client::new();
    for _ in 0..10 {
        let started = Instant::now();
        let response = client
            .get(service.url("/order/products"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .expect("served while slow clients hang on");
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    assert!(
        closed_within(&mut silent, limit + Duration::from_secs(2)).await,
        "a silent connection was not closed"
    );
    let silent_for = silent_started.elapsed();
    assert!(
        silent_for >= limit - Duration::from_millis(100),
        "{silent_for:?}"
    );
    for trickler in tricklers {
        let held = trickler.await.expect("trickler");
        assert!(
            held < limit + Duration::from_secs(2),
            "a trickling client held its connection for {held:?} (limit {limit:?})"
        );
    }
    still_serving(&mut service).await;
}

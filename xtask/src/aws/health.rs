//! Smoke test: `GET <ApiUrl>/healthz` must answer 200 (the legacy rollback
//! checked a `/health` that never existed).

use std::time::Duration;

use anyhow::{Result, bail};

use super::port::Port;

pub const HEALTH_PATH: &str = "/healthz";
const TRIES: u32 = 5;
const PAUSE: Duration = Duration::from_secs(5);

pub async fn smoke_test(port: &impl Port, api_url: &str) -> Result<()> {
    let url = format!("{}{HEALTH_PATH}", api_url.trim_end_matches('/'));
    if port.dry_run() {
        crate::util::note(&format!("[dry run] would check GET {url} answers 200"));
        return Ok(());
    }
    let mut last = String::new();
    for attempt in 1..=TRIES {
        match port.http_status(&url).await {
            Ok(200) => {
                crate::util::note(&format!("GET {url} → 200"));
                return Ok(());
            }
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = format!("{e:#}"),
        }
        crate::util::note(&format!("GET {url}: {last} (try {attempt}/{TRIES})"));
        if attempt < TRIES {
            port.sleep(PAUSE).await;
        }
    }
    bail!(
        "smoke test failed: GET {url} did not answer 200 after {TRIES} tries (last: {last}); \
         check the DNS record of the API domain and the service logs \
         (`cargo xtask logs --tenant <t> --service`)"
    )
}

//! `15m`, `30s`, `2h`, `1h30m` for `--timeout` and `--since`.

use std::time::Duration;

use anyhow::{Result, bail};

pub fn parse(text: &str) -> Result<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => bail!("bad duration {text:?}: use e.g. 30s, 15m, 2h, 1h30m"),
        };
        let Ok(value) = number.parse::<u64>() else {
            bail!("bad duration {text:?}: a number must come before each unit (e.g. 15m)");
        };
        total += value * unit;
        number.clear();
    }
    if !number.is_empty() {
        // A bare number means seconds.
        total += number.parse::<u64>()?;
    }
    if total == 0 {
        bail!("bad duration {text:?}: it must be longer than 0 (e.g. 15m)");
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() -> Result<()> {
        assert_eq!(parse("15m")?, Duration::from_secs(900));
        assert_eq!(parse("1h30m")?, Duration::from_secs(5400));
        assert_eq!(parse("45")?, Duration::from_secs(45));
        assert!(parse("m").is_err());
        assert!(parse("10x").is_err());
        assert!(parse("0s").is_err());
        Ok(())
    }
}

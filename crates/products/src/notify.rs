//! [`Notifier`]: one message per product run — published, rejected by QC (the failed checks) or failed (the stage
//! and the error) — POSTed to webhooks: Slack-compatible incoming webhooks (`{"text": …}`) or plain JSON endpoints.
//! Delivery is retried and logged, never fatal, and a webhook's URL (its path holds the secret) is never printed.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};

/// How a webhook takes its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    /// Slack-compatible (`{"text": …}`; Slack, Mattermost, Rocket.Chat).
    Slack,
    /// The whole [`Notice`] as JSON.
    Json,
}

/// One webhook. Parsed from `URL` (plain JSON; Slack-compatible when the host is `hooks.slack.com`), or
/// `slack+URL` / `json+URL` to say which.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    url: String,
    kind: WebhookKind,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({:?}, {})", self.kind, self.redacted())
    }
}

impl FromStr for Webhook {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, url) = match text.split_once('+') {
            Some(("slack", rest)) => (Some(WebhookKind::Slack), rest),
            Some(("json", rest)) => (Some(WebhookKind::Json), rest),
            _ => (None, text),
        };
        let parsed = url::Url::parse(url).map_err(|e| format!("--notify: not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--notify: `{}://…` is not http(s)", parsed.scheme()));
        }
        let slack = parsed.host_str() == Some("hooks.slack.com");
        let kind = kind.unwrap_or(if slack { WebhookKind::Slack } else { WebhookKind::Json });
        Ok(Self { url: url.to_owned(), kind })
    }
}

impl Webhook {
    /// The URL as logs show it: scheme, host and port only (the path and query may hold the secret).
    pub fn redacted(&self) -> String {
        url::Url::parse(&self.url).map_or_else(
            |_| "<webhook>".into(),
            |u| {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or(""))
            },
        )
    }

    /// How it takes its message.
    pub fn kind(&self) -> WebhookKind {
        self.kind
    }
}

/// What became of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// QC passed and the product (and its derived maps) were published.
    Published,
    /// QC failed: nothing was published.
    Rejected {
        /// `check: detail` of each failed check.
        failed_checks: Vec<String>,
    },
    /// The run stopped with an error.
    Failed {
        /// The stage it stopped in (`read`, `infer`, `qc`, `publish`, …).
        stage: String,
        /// The error.
        error: String,
    },
}

/// The message about one run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Notice {
    /// What was made (the destination, or a request id).
    pub subject: String,
    /// From what.
    pub source: String,
    /// What became of it.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Where the published files are (product, derived maps, STAC Item, QC report).
    pub products: Vec<String>,
    /// Seconds per stage.
    pub stages: Value,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Throughput figures (e.g. `windows_per_s`, `output_mb_per_s`), when known.
    pub throughput: Value,
}

impl Notice {
    /// A notice about `source` with no engine figures (nothing ran, or a product kept from an earlier run); the
    /// subject and wall time are the sender's to set.
    pub fn new(source: String, verdict: Verdict, products: Vec<String>) -> Self {
        Self {
            subject: String::new(),
            source,
            verdict,
            products,
            stages: Value::Object(serde_json::Map::new()),
            wall_s: 0.0,
            throughput: Value::Object(serde_json::Map::new()),
        }
    }

    /// One line for chat: the verdict, subject, and what a reader acts on.
    pub fn text(&self) -> String {
        let head = match &self.verdict {
            Verdict::Published => format!("✅ published {}", self.subject),
            Verdict::Rejected { failed_checks } => {
                format!("⛔ rejected by QC: {} (failed: {})", self.subject, failed_checks.join("; "))
            }
            Verdict::Failed { stage, error } => format!("❌ failed in {stage}: {} ({error})", self.subject),
        };
        let files = if self.products.is_empty() { String::new() } else { format!("\n{}", self.products.join("\n")) };
        format!("{head}\nfrom {} in {:.1} s{files}", self.source, self.wall_s)
    }

    fn payload(&self, kind: WebhookKind) -> Value {
        match kind {
            WebhookKind::Slack => json!({ "text": self.text() }),
            WebhookKind::Json => {
                let mut value = serde_json::to_value(self).unwrap_or_default();
                value["event"] = json!("eoforge.product");
                value["text"] = json!(self.text());
                value
            }
        }
    }
}

/// Sends notices to webhooks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notifier {
    /// The webhooks.
    pub webhooks: Vec<Webhook>,
    /// Tries per webhook (default 3 when 0).
    pub attempts: u32,
}

/// What delivery did, per webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The webhook, redacted.
    pub webhook: String,
    /// Tries made.
    pub tries: u32,
    /// Whether one was accepted (a 2xx answer).
    pub delivered: bool,
}

impl Notifier {
    /// Posts `notice` to every webhook, each up to `attempts` times (waits 0.2, 0.4, … s between tries, 10 s per
    /// try); failures are logged with the redacted URL and returned, never raised.
    pub async fn send(&self, notice: &Notice) -> Vec<Delivery> {
        let attempts = if self.attempts == 0 { 3 } else { self.attempts };
        let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "cannot make an HTTP client; no notification sent");
                return Vec::new();
            }
        };
        let mut deliveries = Vec::with_capacity(self.webhooks.len());
        for hook in &self.webhooks {
            let body = serde_json::to_vec(&notice.payload(hook.kind)).unwrap_or_default();
            let mut delivery = Delivery { webhook: hook.redacted(), tries: 0, delivered: false };
            while delivery.tries < attempts && !delivery.delivered {
                if delivery.tries > 0 {
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(delivery.tries))).await;
                }
                delivery.tries += 1;
                let sent =
                    client.post(&hook.url).header("content-type", "application/json").body(body.clone()).send().await;
                match sent {
                    Ok(response) if response.status().is_success() => delivery.delivered = true,
                    Ok(response) => tracing::warn!(
                        webhook = %delivery.webhook, status = response.status().as_u16(), try_ = delivery.tries,
                        "the webhook refused the notification"
                    ),
                    Err(e) => tracing::warn!(
                        webhook = %delivery.webhook, error = %e.without_url(), try_ = delivery.tries,
                        "cannot deliver the notification"
                    ),
                }
            }
            if !delivery.delivered {
                tracing::warn!(
                    webhook = %delivery.webhook, tries = delivery.tries,
                    "notification not delivered (the run's outcome stands)"
                );
            }
            deliveries.push(delivery);
        }
        deliveries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_parse_their_kind_and_never_show_their_path() {
        let slack: Webhook = "https://hooks.slack.com/services/T0/B0/SECRET".parse().expect("slack");
        assert_eq!(slack.kind(), WebhookKind::Slack);
        assert_eq!(slack.redacted(), "https://hooks.slack.com/…");
        assert!(!format!("{slack:?}").contains("SECRET"));
        let plain: Webhook = "http://127.0.0.1:9/hook?token=SECRET".parse().expect("json");
        assert_eq!((plain.kind(), plain.redacted()), (WebhookKind::Json, "http://127.0.0.1:9/…".to_owned()));
        let forced: Webhook = "slack+https://chat.example.org/hooks/SECRET".parse().expect("mattermost");
        assert_eq!(forced.kind(), WebhookKind::Slack);
        assert!("ftp://x/y".parse::<Webhook>().is_err());
        assert!("not a url".parse::<Webhook>().is_err());
    }
}

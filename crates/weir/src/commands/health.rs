//! `weir health`: checks what weir depends on — the store (reachable, schema, integrity), the
//! workers' heartbeats, the schedules, the configuration and the endpoints it names — each timed,
//! and says which checks did not run and why. The store's answers are the store's
//! (`weir_store::Store`); judging them is this module's.

use super::runs::{now_ms, parse_duration};
use crate::config::{Config, Endpoint, FILE_NAME};
use crate::exit::{EXIT_DEGRADED, EXIT_DOWN};
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use weir_api::{Check, CheckStatus, HealthReport, Overall};
use weir_store::{Durability, Integrity, Store};

const REACHABLE: &str = "store.reachable";
const SCHEMA: &str = "store.schema";
const INTEGRITY: &str = "store.integrity";
const WORKERS: &str = "workers";
const SCHEDULES: &str = "schedules";
const CONFIG: &str = "config";
const ENDPOINTS: &str = "endpoints";

/// The checks that need an open store, in the order they are shown.
const NEED_THE_STORE: [&str; 4] = [SCHEMA, INTEGRITY, WORKERS, SCHEDULES];

/// Check the store, the workers, the schedules, the configuration and its endpoints
///
/// Each check is `ok`, `degraded`, `down`, or `skipped` when it could not run (the detail says
/// why; a skipped check is neither a pass nor a failure). The store is the one `weir run` writes:
/// `.weir/weir.db`, or where WEIR_HOME or WEIR_DATABASE_URL say (a store that does not exist yet
/// is created, as by any command). An older schema is migrated when the store is opened, as any
/// command does; a newer one is refused.
///
/// Exit codes: 0 healthy, 1 degraded (a worker's heartbeat older than its lease, a schedule whose
/// tick is over a minute late, an integrity problem, an invalid configuration file, an endpoint
/// that does not answer 2xx), 3 down (the store cannot be opened, or its
/// schema is newer than this weir).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir health\n  weir health --json | jq -r '.checks[] | select(.status != \"ok\") | .name'\n  \
    weir health --lease 2m    # workers run with `weir worker --lease 2m`\n  \
    WEIR_DATABASE_URL=postgres://weir@db/weir weir health"
)]
pub struct Args {
    /// The lease the workers run with (`weir worker --lease`): a worker whose last heartbeat is
    /// older is reported as stale [default: 30s; config worker.lease]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lease: Option<Duration>,
    /// Print `{status, checks: [{name, status, latency_ms, detail}]}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    let lease = *settings.config.worker.lease.clone().with_flag(args.lease, "--lease");
    let mut checks = runtime.block_on(store_checks(settings, lease));
    checks.extend(runtime.block_on(configured_checks(settings)));
    let report = HealthReport { status: Overall::of(&checks), checks };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, settings);
    }
    Ok(match report.status {
        Overall::Healthy => ExitCode::SUCCESS,
        Overall::Degraded => ExitCode::from(EXIT_DEGRADED),
        Overall::Down => ExitCode::from(EXIT_DOWN),
    })
}

/// Runs `check`, timed; a store error is the check's `error` status with the error as detail.
async fn timed<F>(name: &str, error: CheckStatus, check: F) -> Check
where
    F: Future<Output = Result<(CheckStatus, String), weir_store::Error>>,
{
    let start = Instant::now();
    let (status, detail) = check.await.unwrap_or_else(|e| (error, e.to_string()));
    Check::ran(name, status, start.elapsed(), detail)
}

async fn store_checks(settings: &Settings, lease: Duration) -> Vec<Check> {
    let location = settings.config.store.location();
    let start = Instant::now();
    let opened = Store::open(location.clone(), Durability::Normal).await;
    let store = match opened {
        Ok(store) => store,
        Err(weir_store::Error::TooNew { found, known, .. }) => {
            let took = start.elapsed();
            let mut checks = vec![
                Check::ran(REACHABLE, CheckStatus::Ok, took, format!("{location} answered")),
                Check::ran(
                    SCHEMA,
                    CheckStatus::Down,
                    took,
                    format!(
                        "schema version {found} is newer than this weir's ({known}): refused, untouched; use a newer weir"
                    ),
                ),
            ];
            checks.extend(
                NEED_THE_STORE[1..].iter().map(|n| Check::skipped(n, "not checked: the store was refused")),
            );
            return checks;
        }
        Err(e) => {
            let mut checks = vec![Check::ran(REACHABLE, CheckStatus::Down, start.elapsed(), e.to_string())];
            checks.extend(
                NEED_THE_STORE.iter().map(|n| Check::skipped(n, "not checked: the store cannot be opened")),
            );
            return checks;
        }
    };
    // Timed from before the open: reaching the store is opening it and running a query.
    if let Err(e) = store.ping().await {
        let mut checks = vec![Check::ran(REACHABLE, CheckStatus::Down, start.elapsed(), e.to_string())];
        checks.extend(
            NEED_THE_STORE.iter().map(|n| Check::skipped(n, "not checked: the store does not answer")),
        );
        return checks;
    }
    let detail = format!("opened {location} and ran a query");
    let mut checks = vec![Check::ran(REACHABLE, CheckStatus::Ok, start.elapsed(), detail)];
    checks.push(timed(SCHEMA, CheckStatus::Down, schema(&store)).await);
    checks.push(timed(INTEGRITY, CheckStatus::Degraded, integrity(&store)).await);
    checks.push(timed(WORKERS, CheckStatus::Degraded, workers(&store, lease, now_ms())).await);
    checks.push(timed(SCHEDULES, CheckStatus::Degraded, schedules(&store, now_ms())).await);
    checks
}

async fn schema(store: &Store) -> Result<(CheckStatus, String), weir_store::Error> {
    let known = weir_store::SCHEMA_VERSION;
    Ok(match store.schema_version().await? {
        Some(v) if v == known => (CheckStatus::Ok, format!("schema version {v}, this weir's")),
        Some(v) if v > known => (
            CheckStatus::Down,
            format!(
                "schema version {v} is newer than this weir's ({known}): a newer weir changed it since it was opened"
            ),
        ),
        // Opening migrates; an older version here means the migration did not hold.
        found => (
            CheckStatus::Degraded,
            format!(
                "schema version {} is older than this weir's ({known}) after opening, which migrates; run `weir admin check`",
                found.map_or("none".to_owned(), |v| v.to_string())
            ),
        ),
    })
}

async fn integrity(store: &Store) -> Result<(CheckStatus, String), weir_store::Error> {
    Ok(match store.quick_check().await? {
        Integrity::Ok => (CheckStatus::Ok, "PRAGMA quick_check found no problems".to_owned()),
        Integrity::Problems(found) => {
            (CheckStatus::Degraded, format!("PRAGMA quick_check: {}", found.join("; ")))
        }
        Integrity::Unsupported(why) => (CheckStatus::Skipped, format!("not checked: {why}")),
    })
}

async fn workers(
    store: &Store,
    lease: Duration,
    now: u64,
) -> Result<(CheckStatus, String), weir_store::Error> {
    let workers = store.workers().await?;
    if workers.is_empty() {
        return Ok((CheckStatus::Ok, "no workers registered".to_owned()));
    }
    let lease_ms = lease.as_millis() as u64;
    let stale: Vec<String> = workers
        .iter()
        .filter(|w| now.saturating_sub(w.heartbeat) > lease_ms)
        .map(|w| format!("{} ({} ago, on {})", w.id, ago(now, w.heartbeat), w.owner))
        .collect();
    let lease = span(lease_ms);
    Ok(if stale.is_empty() {
        (
            CheckStatus::Ok,
            format!("{} workers registered, each heartbeat within the {lease} lease", workers.len()),
        )
    } else {
        let n = stale.len();
        (
            CheckStatus::Degraded,
            format!(
                "{n} of {} workers have no heartbeat within the {lease} lease: {}",
                workers.len(),
                stale.join(", ")
            ),
        )
    })
}

async fn schedules(store: &Store, now: u64) -> Result<(CheckStatus, String), weir_store::Error> {
    let schedules = store.schedules().await?;
    let grace = weir_store::GRACE_MS as u64;
    let late: Vec<String> = schedules
        .iter()
        .filter(|s| !s.paused && now.saturating_sub(s.next_at) > grace)
        .map(|s| format!("{} (due {} ago)", s.name, ago(now, s.next_at)))
        .collect();
    let active = schedules.iter().filter(|s| !s.paused).count();
    Ok(if schedules.is_empty() {
        (CheckStatus::Ok, "no schedules".to_owned())
    } else if late.is_empty() {
        (
            CheckStatus::Ok,
            format!("{active} active schedules, none overdue ({} paused)", schedules.len() - active),
        )
    } else {
        (
            CheckStatus::Degraded,
            format!(
                "{} overdue by over a minute (is a `weir worker` running?): {}",
                late.len(),
                late.join(", ")
            ),
        )
    })
}

/// The checks of the configuration: the file resolved again, as a process started now would
/// (so a change a running worker refused shows here), and the endpoints it names.
async fn configured_checks(settings: &Settings) -> Vec<Check> {
    let start = Instant::now();
    let resolved = Config::resolve(&settings.config.inputs);
    let took = start.elapsed();
    let config = match resolved {
        Ok(config) => config,
        Err(problems) => {
            return vec![
                Check::ran(CONFIG, CheckStatus::Degraded, took, problems.0.join("; ")),
                Check::skipped(ENDPOINTS, "not checked: the configuration is invalid"),
            ];
        }
    };
    let check = match (&config.file.value, &config.profile.value) {
        (None, _) => Check::skipped(
            CONFIG,
            format!(
                "not checked: no configuration file ({FILE_NAME} here or above, --config, WEIR_CONFIG); the defaults apply"
            ),
        ),
        (Some(path), None) => {
            Check::ran(CONFIG, CheckStatus::Ok, took, format!("{} parses and validates", path.display()))
        }
        (Some(path), Some(profile)) => Check::ran(
            CONFIG,
            CheckStatus::Ok,
            took,
            format!("{} parses and validates, with profile {profile}", path.display()),
        ),
    };
    let mut checks = vec![check];
    if config.health.endpoints.is_empty() {
        checks.push(Check::skipped(
            ENDPOINTS,
            "not checked: no endpoints are configured ([[health.endpoints]] in the configuration file)",
        ));
    } else {
        checks.extend(endpoints(&config.health.endpoints).await);
    }
    checks
}

/// One check per endpoint, `endpoints.NAME`: a GET within its timeout, ok on a 2xx answer and
/// degraded otherwise (weir itself still works; what depends on the endpoint may not).
#[cfg(feature = "http")]
async fn endpoints(endpoints: &[Endpoint]) -> Vec<Check> {
    weir_steps::install_crypto_provider();
    let client =
        match reqwest::Client::builder().user_agent(concat!("weir/", env!("CARGO_PKG_VERSION"))).build() {
            Ok(client) => client,
            Err(e) => {
                return vec![Check::ran(
                    ENDPOINTS,
                    CheckStatus::Degraded,
                    Duration::ZERO,
                    format!("cannot build the HTTP client: {e}"),
                )];
            }
        };
    let mut checks = Vec::new();
    for endpoint in endpoints {
        let name = format!("{ENDPOINTS}.{}", endpoint.name);
        let url = crate::config::redact_url(&endpoint.url);
        let start = Instant::now();
        let answer = client.get(&endpoint.url).timeout(endpoint.timeout).send().await;
        let took = start.elapsed();
        let (status, detail) = match answer {
            Ok(r) if r.status().is_success() => (CheckStatus::Ok, format!("GET {url}: {}", r.status())),
            Ok(r) => (CheckStatus::Degraded, format!("GET {url}: {}", r.status())),
            Err(e) if e.is_timeout() => {
                (CheckStatus::Degraded, format!("GET {url}: no answer within {:?}", endpoint.timeout))
            }
            Err(e) => {
                (CheckStatus::Degraded, format!("GET {url}: {:#}", anyhow::Error::new(e.without_url())))
            }
        };
        checks.push(Check::ran(&name, status, took, detail));
    }
    checks
}

/// Without an HTTP client, the endpoints are not requested.
#[cfg(not(feature = "http"))]
async fn endpoints(endpoints: &[Endpoint]) -> Vec<Check> {
    let n = endpoints.len();
    vec![Check::skipped(
        ENDPOINTS,
        format!(
            "not checked: this weir was built without the `http` feature, which requesting the {n} configured endpoints needs"
        ),
    )]
}

fn ago(now: u64, then: u64) -> String {
    span(now.saturating_sub(then))
}

/// `45s`, `12m`, `3h`, `2d`: a span as a glance reads it.
fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn print_table(report: &HealthReport, settings: &Settings) {
    let color = settings.stdout_color;
    let width = report.checks.iter().map(|c| c.name.len()).max().unwrap_or(0).max("CHECK".len());
    outln!("{:width$}  {:8}  {:>9}  DETAIL", "CHECK", "STATUS", "LATENCY");
    for c in &report.checks {
        let status = paint(&format!("{:8}", c.status.as_str()), style(c.status), color);
        let latency = match c.status {
            CheckStatus::Skipped => "-".to_owned(),
            _ => format!("{:.1} ms", c.latency_ms),
        };
        outln!("{:width$}  {status}  {latency:>9}  {}", c.name, c.detail);
    }
    let overall = match report.status {
        Overall::Healthy => Style::Ok,
        Overall::Degraded => Style::Warn,
        Overall::Down => Style::Error,
    };
    outln!("{}", paint(report.status.as_str(), overall, color));
}

fn style(status: CheckStatus) -> Style {
    match status {
        CheckStatus::Ok => Style::Ok,
        CheckStatus::Skipped => Style::Dim,
        CheckStatus::Degraded => Style::Warn,
        CheckStatus::Down => Style::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_at_a_glance() {
        assert_eq!(span(45_000), "45s");
        assert_eq!(span(12 * 60_000 + 5), "12m");
        assert_eq!(span(3 * 3_600_000), "3h");
        assert_eq!(span(2 * 86_400_000), "2d");
    }
}

//! Where weir's log lines go, and which: [`init`] installs the process's `tracing` subscriber
//! from [`Options`] — text for a person at a terminal, or JSON lines (`ts`, `level`, `msg`,
//! `target`, then the line's own fields such as `run_id` and `step_id`); on stderr, or in a
//! file that rolls over hourly, daily or by size and keeps a number of old files.

mod json;
mod size;

use std::path::PathBuf;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;

pub use size::SizeRolling;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per event for people: time, level, target, message, fields.
    Text,
    /// One JSON object per line.
    Json,
}

/// When a log file starts anew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    Never,
    /// Files named `NAME.YYYY-MM-DD-HH`.
    Hourly,
    /// Files named `NAME.YYYY-MM-DD`.
    Daily,
    /// `NAME` until it would pass `max_size`, then it becomes `NAME.1` (and `NAME.1`, `NAME.2`…).
    Size,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub path: PathBuf,
    pub rotation: Rotation,
    /// The size a file rolls over at, with [`Rotation::Size`].
    pub max_size: u64,
    /// How many files are kept, the current one included (hourly, daily) or besides it (size).
    pub retention: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Filter directives, as `--log-level` takes them: `info`, `warn,weir::step=debug`. A bare
    /// level is for weir's own targets; other crates' lines stay at `warn` or less unless a
    /// directive names them.
    pub level: String,
    pub format: Format,
    /// Colour text lines (a terminal's).
    pub color: bool,
    /// A file instead of stderr.
    pub file: Option<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid log level `{level}`: {source}")]
    Level { level: String, source: tracing_subscriber::filter::ParseError },
    #[error("cannot open the log file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("a log subscriber is already installed")]
    Installed,
}

/// Keeps the file writer's thread flushing; dropping it writes what is left.
#[derive(Debug)]
#[must_use = "log lines written to a file are lost when the guard is dropped early"]
pub struct Guard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Whether any log line can be written: a subscriber is installed and lets some through.
pub fn enabled() -> bool {
    tracing::level_filters::LevelFilter::current() != tracing::level_filters::LevelFilter::OFF
}

/// Installs the subscriber of this process.
pub fn init(options: &Options) -> Result<Guard, Error> {
    let filter = filter(&options.level)?;
    let (writer, guard, ansi) = match &options.file {
        Some(file) => {
            let (writer, guard) = tracing_appender::non_blocking(file_writer(file)?);
            (BoxMakeWriter::new(writer), Some(guard), false)
        }
        None => (BoxMakeWriter::new(std::io::stderr), None, options.color),
    };
    let layer = match options.format {
        Format::Text => tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(writer).boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(json::JsonFields)
            .event_format(json::JsonLines)
            .with_writer(writer)
            .boxed(),
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| Error::Installed)?;
    // The subscriber is the process's, once; so is the handle on its filter.
    let _ = FILTER.set(handle);
    Ok(Guard { _writer: guard })
}

/// The filter of the installed subscriber, for [`set_level`].
static FILTER: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// Changes which lines the installed subscriber writes (a configuration read again); does
/// nothing when none is installed. A level that is not one changes nothing and is returned.
pub fn set_level(level: &str) -> Result<(), Error> {
    let filter = filter(level)?;
    if let Some(handle) = FILTER.get() {
        // Fails only when the subscriber is gone, and then no line is written anyway.
        let _ = handle.reload(filter);
    }
    Ok(())
}

/// The filter of `level`: each bare level is weir's (`weir=LEVEL`), and everything else gets
/// the less verbose of the most verbose bare level and `warn`, so `debug` shows weir's debug
/// lines without those of its dependencies.
pub fn filter(level: &str) -> Result<tracing_subscriber::EnvFilter, Error> {
    let error = |source| Error::Level { level: level.to_owned(), source };
    let mut others = tracing::level_filters::LevelFilter::OFF;
    let mut directives = Vec::new();
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.parse::<tracing::level_filters::LevelFilter>() {
            Ok(bare) => {
                others = others.max(bare.min(tracing::level_filters::LevelFilter::WARN));
                directives.push(format!("weir={bare}"));
            }
            Err(_) => directives.push(directive.to_owned()),
        }
    }
    let mut filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(others.into())
        .parse("")
        .map_err(error)?;
    for directive in directives {
        filter = filter.add_directive(directive.parse().map_err(error)?);
    }
    Ok(filter)
}

fn file_writer(file: &File) -> Result<Box<dyn std::io::Write + Send>, Error> {
    let failed = |message: String| Error::File { path: file.path.clone(), message };
    let dir = file.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = file.path.file_name().ok_or_else(|| failed("it names no file".into()))?;
    use tracing_appender::rolling;
    let rotation = match file.rotation {
        Rotation::Size => {
            let writer = SizeRolling::open(file.path.clone(), file.max_size, file.retention);
            return Ok(Box::new(writer.map_err(|e| failed(e.to_string()))?));
        }
        Rotation::Never => rolling::Rotation::NEVER,
        Rotation::Hourly => rolling::Rotation::HOURLY,
        Rotation::Daily => rolling::Rotation::DAILY,
    };
    let mut builder = rolling::Builder::new().rotation(rotation).filename_prefix(name.to_string_lossy());
    if file.rotation != Rotation::Never {
        builder = builder.max_log_files(file.retention.max(1));
    }
    Ok(Box::new(builder.build(dir).map_err(|e| failed(e.to_string()))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn shows(level: &str, target: &str, at: tracing::Level) -> bool {
        use tracing::Subscriber;
        let subscriber = tracing_subscriber::registry().with(filter(level).unwrap());
        let metadata = tracing::Metadata::new(
            "event",
            target,
            at,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
            tracing::metadata::Kind::EVENT,
        );
        subscriber.enabled(&metadata)
    }

    struct Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unreachable!("only the identity of the callsite is used")
        }
    }
    static CALLSITE: Callsite = Callsite;

    #[test]
    fn a_bare_level_is_weirs_and_dependencies_stay_at_warn() {
        use tracing::Level;
        assert!(shows("debug", "weir::step", Level::DEBUG));
        assert!(!shows("debug", "hyper::proto", Level::DEBUG));
        assert!(shows("debug", "hyper::proto", Level::WARN));
        assert!(!shows("info,weir::step=debug", "weir::run", Level::DEBUG));
        assert!(shows("info,weir::step=debug", "weir::step", Level::DEBUG));
        assert!(shows("warn,hyper=debug", "hyper::proto", Level::DEBUG));
        assert!(!shows("error", "hyper::proto", Level::WARN));
        assert!(!shows("off", "weir::run", Level::ERROR));
    }

    #[test]
    fn a_level_that_is_not_one_is_named() {
        let err = filter("info,weir::step=loud").unwrap_err();
        assert!(err.to_string().starts_with("invalid log level `info,weir::step=loud`: "), "{err}");
    }

    #[test]
    fn a_daily_file_is_named_by_its_day() {
        let dir = std::env::temp_dir().join(format!("weir-log-daily-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = File { path: dir.join("weir.log"), rotation: Rotation::Daily, max_size: 0, retention: 3 };
        let mut writer = file_writer(&file).unwrap();
        writer.write_all(b"a line\n").unwrap();
        writer.flush().unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let [name] = names.as_slice() else { panic!("one file: {names:?}") };
        let day = name.strip_prefix("weir.log.").unwrap_or_default();
        assert!(day.len() == 10 && day.as_bytes()[4] == b'-', "{name}");
        assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), "a line\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

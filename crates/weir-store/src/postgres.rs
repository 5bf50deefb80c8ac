//! The PostgreSQL backend (cargo feature `postgres`): one connection, driven by a task of its
//! own on the runtime that opened the store. The task takes the writes waiting for it and
//! commits them in one transaction, sending the statements of a transaction together
//! (pipelined: one round trip, not one per statement). Single queries go to a second connection
//! and task, opened by the first of them: a read does not wait behind a commit, nor cut a group
//! commit short. A query sees every write its caller awaited before sending it.

use crate::backend::{self, Isolation, Job, Param, Query, Row, Script, Stmt};
use crate::{Durability, Error, schema};
use std::collections::HashMap;
use tokio::sync::{mpsc, watch};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

#[derive(Clone, Debug)]
pub(crate) struct Postgres {
    jobs: mpsc::UnboundedSender<Job>,
    /// Single queries, for the reader task.
    reads: mpsc::UnboundedSender<Query>,
}

impl Postgres {
    /// Connects to `url`, brings the schema up to date, and starts the writer task, whose
    /// commits wait for the server's disk only at [`Durability::Full`].
    pub(crate) async fn open(url: &str, durability: Durability) -> Result<Postgres, Error> {
        let location = crate::redact_url(url);
        let unreachable = |message: String| Error::Unreachable { location: location.clone(), message };
        let (mut client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
            let cause = std::error::Error::source(&e).map_or_else(String::new, |c| format!(" ({c})"));
            unreachable(format!("{e}{cause}; check that the server runs and the URL is right"))
        })?;
        tokio::spawn(async move {
            // The connection ends when the client is dropped, or breaks; the writer then reports
            // every later job as failed.
            let _ = connection.await;
        });
        migrate(&mut client, &location).await?;
        if durability == Durability::Normal {
            client.batch_execute("SET synchronous_commit = off").await.map_err(sql)?;
        }
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(writer(client, queue, location.clone()));
        let (reads, asked) = mpsc::unbounded_channel();
        tokio::spawn(reader(url.to_owned(), asked, location));
        Ok(Postgres { jobs, reads })
    }

    pub(crate) fn send(&self, job: Job) -> Result<(), Error> {
        match job {
            Job::Query(query) => self.reads.send(query).map_err(|_| backend::gone()),
            job => self.jobs.send(job).map_err(|_| backend::gone()),
        }
    }
}

/// The reader task: answers queries, one at a time, on a connection it opens for the first (and
/// again after one breaks), until every sender is gone.
async fn reader(url: String, mut asked: mpsc::UnboundedReceiver<Query>, location: String) {
    let mut client: Option<Client> = None;
    let mut prepared: HashMap<&'static str, Statement> = HashMap::new();
    while let Some(Query { statement, done }) = asked.recv().await {
        if client.as_ref().is_none_or(Client::is_closed) {
            prepared.clear();
            client = match tokio_postgres::connect(&url, NoTls).await {
                Ok((c, connection)) => {
                    tokio::spawn(connection);
                    Some(c)
                }
                Err(e) => {
                    let message = format!("{e}; check that the server runs");
                    let _ = done.send(Err(Error::Unreachable { location: location.clone(), message }));
                    continue;
                }
            };
        }
        let Some(c) = &client else { continue };
        let _ = done.send(read(c, &mut prepared, &statement).await);
    }
}

/// A connection of its own that listens on the channels it is asked for (`LISTEN`, from the
/// first receiver of each): the value of a channel's receivers changes with each of its
/// notifications. It lives as long as the store that opened it.
#[derive(Debug)]
pub(crate) struct Listener {
    client: Client,
    location: String,
    channels: Channels,
}

/// The channels a [`Listener`] listens on, each with the sender of its receivers.
type Channels = std::sync::Arc<std::sync::Mutex<HashMap<&'static str, watch::Sender<u64>>>>;

impl Listener {
    pub(crate) async fn open(url: &str) -> Result<Listener, Error> {
        let location = crate::redact_url(url);
        let (client, mut connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| Error::Unreachable { location: location.clone(), message: e.to_string() })?;
        let channels = Channels::default();
        let told = channels.clone();
        tokio::spawn(async move {
            // Ends when the connection does: when the client is dropped with the store, or breaks
            // (the waits then fall back to reading what they wait for every few seconds, and
            // workers to their poll).
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if let Some(channel) = told.lock().unwrap_or_else(|e| e.into_inner()).get(n.channel())
                        {
                            channel.send_modify(|n| *n += 1);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Ok(Listener { client, location, channels })
    }

    /// A receiver of `channel`'s notifications, listening from now on.
    pub(crate) async fn listen(&self, channel: &'static str) -> Result<watch::Receiver<u64>, Error> {
        let receiver = {
            let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(sender) = channels.get(channel) {
                return Ok(sender.subscribe());
            }
            let (sender, receiver) = watch::channel(0u64);
            channels.insert(channel, sender);
            receiver
        };
        self.client.batch_execute(&format!("LISTEN {channel}")).await.map_err(|e| {
            self.channels.lock().unwrap_or_else(|e| e.into_inner()).remove(channel);
            write_error(e, &self.location)
        })?;
        Ok(receiver)
    }
}

fn sql(e: tokio_postgres::Error) -> Error {
    Error::Sql(e.as_db_error().map_or_else(|| e.to_string(), ToString::to_string))
}

/// What a failed write means for its user: a lost connection is an unreachable store and a
/// full disk is said as such; anything else is the server's message.
fn write_error(e: tokio_postgres::Error, location: &str) -> Error {
    let location = location.to_owned();
    if e.is_closed() {
        let message = "the connection to the server was lost; check that the server runs".into();
        Error::Unreachable { location, message }
    } else if e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL) {
        Error::Full { location, message: e.as_db_error().map_or_else(|| e.to_string(), ToString::to_string) }
    } else {
        sql(e)
    }
}

/// Applies the migrations the schema lacks, in one transaction under an advisory lock (another
/// process migrating the same schema waits for it). A schema found current by one read (one
/// round trip, the common case) takes neither.
async fn migrate(client: &mut Client, location: &str) -> Result<(), Error> {
    let stored = client.simple_query(schema::READ_VERSION).await.ok().and_then(|messages| {
        messages.into_iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
    });
    if let Some(version) = stored
        && schema::pending(Some(&version), location)?.is_empty()
    {
        return Ok(());
    }
    let tx = client.transaction().await.map_err(sql)?;
    tx.batch_execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))").await.map_err(sql)?;
    tx.batch_execute(schema::META).await.map_err(sql)?;
    let found = tx.query_opt(schema::READ_VERSION, &[]).await.map_err(sql)?;
    let found = found.map(|row| row.get::<_, String>(0));
    let pending = schema::pending(found.as_deref(), location)?;
    if pending.is_empty() {
        return Ok(());
    }
    for migration in pending {
        tx.batch_execute(migration).await.map_err(sql)?;
    }
    tx.execute(schema::WRITE_VERSION, &[&schema::SCHEMA_VERSION.to_string()]).await.map_err(sql)?;
    tx.commit().await.map_err(sql)
}

/// The writer task: answers jobs until every sender is gone.
async fn writer(client: Client, mut queue: mpsc::UnboundedReceiver<Job>, location: String) {
    let mut prepared: HashMap<&'static str, Statement> = HashMap::new();
    while let Some(job) = queue.recv().await {
        let query = match job {
            Job::Write(first) => {
                let (writes, query) = backend::batch(first, || queue.try_recv().ok());
                let together = write(&client, &mut prepared, &backend::statements(&writes), &location).await;
                for alone in backend::answer_group(writes, together) {
                    let statements = backend::statements(std::slice::from_ref(&alone));
                    let result = write(&client, &mut prepared, &statements, &location).await;
                    backend::answer(alone, result);
                }
                query
            }
            other => Some(other),
        };
        match query {
            Some(Job::Query(Query { statement, done })) => {
                let _ = done.send(read(&client, &mut prepared, &statement).await);
            }
            Some(Job::Script(script)) => {
                let result = run_script(&client, &mut prepared, &script).await;
                let _ = script.done.send(result);
            }
            Some(Job::Write(_)) | None => {}
        }
    }
}

/// The prepared statements of `sqls`, in order; those not prepared yet are prepared together
/// (their requests sent at once: one round trip for all).
async fn statements(
    client: &Client,
    prepared: &mut HashMap<&'static str, Statement>,
    sqls: impl IntoIterator<Item = &'static str>,
) -> Result<Vec<Statement>, tokio_postgres::Error> {
    let sqls: Vec<&'static str> = sqls.into_iter().collect();
    let mut missing: Vec<&'static str> =
        sqls.iter().copied().filter(|sql| !prepared.contains_key(sql)).collect();
    missing.sort_unstable();
    missing.dedup();
    let made = futures_util::future::try_join_all(missing.iter().map(|sql| client.prepare(sql))).await?;
    prepared.extend(missing.into_iter().zip(made));
    Ok(sqls.iter().map(|sql| prepared[sql].clone()).collect())
}

/// Commits `statements` in one transaction (a group commit's writes).
async fn write(
    client: &Client,
    prepared: &mut HashMap<&'static str, Statement>,
    statements: &[&Stmt],
    location: &str,
) -> Result<(), Error> {
    transaction(client, prepared, statements, "BEGIN", |e| write_error(e, location)).await.map(|_| ())
}

/// Runs a script's statements one after the other in one `REPEATABLE READ` transaction (read
/// only for [`Isolation::Read`]), where every statement sees the snapshot the first one took; or
/// `READ COMMITTED` for [`Isolation::Committed`].
async fn run_script(
    client: &Client,
    prepared: &mut HashMap<&'static str, Statement>,
    script: &Script,
) -> Result<Vec<Vec<Row>>, Error> {
    let start = match script.isolation {
        Isolation::Committed => "START TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::Write => "START TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Read => "START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    let statements: Vec<&Stmt> = script.statements.iter().collect();
    let answers = transaction(client, prepared, &statements, start, sql).await?;
    answers.iter().map(|answer| rows(answer)).collect()
}

/// Runs `statements` in one transaction begun by `start`, in one round trip: the start, the
/// statements and `COMMIT` are sent together (the statements not prepared yet are prepared
/// together first). A statement the server refuses aborts the transaction, whose `COMMIT` then
/// rolls it back. One that could not even be sent would let the others commit without it, so
/// every statement's parameters are encoded first and a failure stops the transaction before
/// anything is sent. Returns each statement's rows; `failed` says what a failure means.
async fn transaction(
    client: &Client,
    prepared: &mut HashMap<&'static str, Statement>,
    statements: &[&Stmt],
    start: &str,
    failed: impl Fn(tokio_postgres::Error) -> Error,
) -> Result<Vec<Vec<tokio_postgres::Row>>, Error> {
    let ready =
        self::statements(client, prepared, statements.iter().map(|s| s.sql)).await.map_err(&failed)?;
    for (s, statement) in statements.iter().zip(&ready) {
        encodes(statement, s)?;
    }
    let runs = statements.iter().zip(&ready).map(|(s, prepared)| {
        let params: Vec<&(dyn ToSql + Sync)> = s.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        async move { client.query(prepared, &params).await }
    });
    let together = futures_util::future::try_join3(
        client.batch_execute(start),
        futures_util::future::try_join_all(runs),
        client.batch_execute("COMMIT"),
    );
    match together.await {
        Ok((_, answers, _)) => Ok(answers),
        Err(e) => {
            // Ends the transaction whatever was sent of it (without one in progress, the server
            // only warns).
            let _ = client.batch_execute("ROLLBACK").await;
            Err(failed(e))
        }
    }
}

/// Whether `s`'s parameters fit the prepared `statement`, as `execute` checks before it sends.
fn encodes(statement: &Statement, s: &Stmt) -> Result<(), Error> {
    let types = statement.params();
    if types.len() != s.params.len() {
        return Err(Error::Sql(format!(
            "a statement takes {} parameters, not {}: {}",
            types.len(),
            s.params.len(),
            s.sql
        )));
    }
    let mut buf = bytes::BytesMut::new();
    for (param, ty) in s.params.iter().zip(types) {
        buf.clear();
        param
            .to_sql_checked(ty, &mut buf)
            .map_err(|e| Error::Sql(format!("a parameter does not fit type {ty} ({e}): {}", s.sql)))?;
    }
    Ok(())
}

async fn read(
    client: &Client,
    prepared: &mut HashMap<&'static str, Statement>,
    s: &Stmt,
) -> Result<Vec<Row>, Error> {
    let statement = statements(client, prepared, [s.sql]).await.map_err(sql)?.remove(0);
    let params: Vec<&(dyn ToSql + Sync)> = s.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    rows(&client.query(&statement, &params).await.map_err(sql)?)
}

fn rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Row>, Error> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let ty = row.columns()[i].type_();
                    Ok(match *ty {
                        Type::INT8 => {
                            row.try_get::<_, Option<i64>>(i).map_err(sql)?.map_or(Param::Null, Param::Int)
                        }
                        Type::INT4 => row
                            .try_get::<_, Option<i32>>(i)
                            .map_err(sql)?
                            .map_or(Param::Null, |n| Param::Int(n.into())),
                        Type::FLOAT8 => {
                            row.try_get::<_, Option<f64>>(i).map_err(sql)?.map_or(Param::Null, Param::Real)
                        }
                        _ => {
                            row.try_get::<_, Option<String>>(i).map_err(sql)?.map_or(Param::Null, Param::Text)
                        }
                    })
                })
                .collect()
        })
        .collect()
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(n) => match *ty {
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                // A whole number read back from SQLite's REAL column as an integer (a restore).
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Param::Real(x) => x.to_sql(ty, out),
            Param::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

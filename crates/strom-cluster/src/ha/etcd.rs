//! The etcd side of high availability (see [`super`]): the election with its lease and fencing
//! token, the leader record, and finding the leader.

use super::{EtcdConfig, LeaderRecord};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, PutOptions, Txn, TxnOp, TxnOpResponse,
    WatchOptions,
};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("etcd ({endpoints}): {source}")]
    Etcd {
        endpoints: String,
        source: etcd_client::Error,
    },
    #[error("this JobManager is no longer the leader: {0}")]
    Lost(String),
}

fn etcd_error(cfg: &EtcdConfig) -> impl Fn(etcd_client::Error) -> HaError + '_ {
    move |source| HaError::Etcd {
        endpoints: cfg.endpoints.join(","),
        source,
    }
}

/// A client of the cluster's etcd.
pub async fn connect(cfg: &EtcdConfig) -> Result<Client, HaError> {
    let t = cfg.call_timeout();
    let opts = ConnectOptions::new()
        .with_connect_timeout(t)
        .with_timeout(t)
        .with_keep_alive(Duration::from_secs(1), t);
    Client::connect(&cfg.endpoints, Some(opts))
        .await
        .map_err(etcd_error(cfg))
}

/// A won election: the lease that keeps it and the fencing token.
pub struct Leadership {
    client: Client,
    cfg: EtcdConfig,
    lease: i64,
    /// The revision that created the leader key: writes of this leader are conditional on the
    /// key still having it.
    pub token: i64,
    lost: watch::Receiver<Option<String>>,
}

impl Leadership {
    /// Publishes the leader's record, only while this leadership holds.
    pub async fn publish(&mut self, record: &LeaderRecord) -> Result<(), HaError> {
        let key = self.cfg.leader_key();
        let txn = Txn::new()
            .when([Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                self.token,
            )])
            .and_then([TxnOp::put(
                key,
                record.to_bytes(),
                Some(PutOptions::new().with_lease(self.lease)),
            )]);
        let r = self.client.txn(txn).await.map_err(etcd_error(&self.cfg))?;
        if !r.succeeded() {
            return Err(HaError::Lost(
                "the leader key was created by another JobManager".into(),
            ));
        }
        Ok(())
    }

    /// Resolves when the leadership is lost, with why.
    pub async fn lost(&mut self) -> String {
        loop {
            if let Some(why) = self.lost.borrow().clone() {
                return why;
            }
            if self.lost.changed().await.is_err() {
                return "the lease keeper stopped".into();
            }
        }
    }
}

/// Campaigns until this JobManager (`name`: how the record names it) leads; says who leads
/// while another does, and keeps `seen` at the latest record of the leader. An error of etcd
/// while standing by is retried.
pub async fn campaign(
    cfg: &EtcdConfig,
    name: &str,
    seen: &watch::Sender<LeaderRecord>,
) -> Leadership {
    let mut delay = Duration::from_millis(200);
    loop {
        match campaign_once(cfg, name, seen).await {
            Ok(l) => return l,
            Err(e) => {
                tracing::warn!("campaigning for the leadership: {e}; again in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn campaign_once(
    cfg: &EtcdConfig,
    name: &str,
    seen: &watch::Sender<LeaderRecord>,
) -> Result<Leadership, HaError> {
    let err = etcd_error(cfg);
    let mut client = connect(cfg).await?;
    let lease = client
        .lease_grant(cfg.lease_ttl_secs, None)
        .await
        .map_err(&err)?
        .id();
    let lost = keep_alive(client.clone(), lease, cfg.lease_ttl_secs);
    let key = cfg.leader_key();
    let mine = LeaderRecord {
        name: name.to_string(),
        ..LeaderRecord::default()
    };
    let mut announced = String::new();
    loop {
        if let Some(why) = lost.borrow().clone() {
            return Err(HaError::Lost(why));
        }
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                mine.to_bytes(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(key.clone(), None)]);
        let r = client.txn(txn).await.map_err(&err)?;
        let revision = r.header().map_or(0, |h| h.revision());
        if r.succeeded() {
            return Ok(Leadership {
                client,
                cfg: cfg.clone(),
                lease,
                token: revision,
                lost,
            });
        }
        let leader = r.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| LeaderRecord::parse(kv.value())),
            _ => None,
        });
        if let Some(leader) = leader {
            seen.send_replace(leader.clone());
            if leader.name != announced {
                println!(
                    "JobManager {name} stands by: {} leads the cluster '{}' (REST {})",
                    leader.name,
                    cfg.cluster_id,
                    if leader.rest.is_empty() {
                        "not up yet"
                    } else {
                        &leader.rest
                    }
                );
                announced = leader.name;
            }
        }
        // until the key is deleted (the leader's lease ran out), from the revision seen on
        let opts = WatchOptions::new().with_start_revision(revision + 1);
        let mut stream = client.watch(key.clone(), Some(opts)).await.map_err(&err)?;
        while let Some(resp) = stream.message().await.map_err(&err)? {
            for e in resp.events() {
                if let (EventType::Put, Some(kv)) = (e.event_type(), e.kv()) {
                    seen.send_replace(LeaderRecord::parse(kv.value()));
                }
            }
            if resp
                .events()
                .iter()
                .any(|e| e.event_type() == EventType::Delete)
            {
                seen.send_replace(LeaderRecord::default());
                break;
            }
        }
    }
}

/// Renews `lease` every third of its time to live; the receiver learns why when it is lost:
/// expired, or not renewed for two thirds of `ttl_secs` (counted from when the last renewal
/// that succeeded was sent, Flink's renew deadline), so that the leader steps down while its
/// lease still holds, before a standby can be elected. Ends when the receiver is dropped.
fn keep_alive(mut client: Client, lease: i64, ttl_secs: i64) -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let period = Duration::from_millis((ttl_secs as u64 * 1000 / 3).max(100));
        let deadline = Duration::from_millis(ttl_secs as u64 * 2000 / 3);
        let mut last_ok = Instant::now();
        let mut keeper = None;
        while !tx.is_closed() {
            if keeper.is_none() {
                keeper = tokio::time::timeout(deadline / 4, client.lease_keep_alive(lease))
                    .await
                    .ok()
                    .and_then(Result::ok);
            }
            let sent = Instant::now();
            let renewed = match keeper.as_mut() {
                Some((k, s)) => {
                    let once = async {
                        k.keep_alive().await?;
                        s.message().await
                    };
                    // short tries: several fit in the renew deadline
                    match tokio::time::timeout(deadline / 4, once).await {
                        Ok(Ok(Some(r))) if r.ttl() > 0 => true,
                        Ok(Ok(Some(_))) => {
                            let _ = tx.send(Some("its etcd lease expired".into()));
                            return;
                        }
                        _ => {
                            keeper = None;
                            false
                        }
                    }
                }
                None => false,
            };
            if renewed {
                last_ok = sent;
            } else if last_ok.elapsed() >= deadline {
                let _ = tx.send(Some(format!(
                    "its etcd lease could not be renewed for {:.1} s of its {ttl_secs} s",
                    deadline.as_secs_f64()
                )));
                return;
            }
            // after a failed renewal, the next try comes soon: the deadline is near
            let pause = if renewed {
                period
            } else {
                period.min(Duration::from_millis(100))
            };
            tokio::time::sleep(pause).await;
        }
    });
    rx
}

/// The leader's record once its services are up (waits for a leader that serves).
pub async fn serving_leader(cfg: &EtcdConfig) -> LeaderRecord {
    serving(&mut follow_leader(cfg)).await
}

/// The record `leader` ([`follow_leader`]) has once it names a leader that serves.
pub async fn serving(leader: &mut watch::Receiver<LeaderRecord>) -> LeaderRecord {
    loop {
        {
            let r = leader.borrow_and_update();
            if r.serving() {
                return r.clone();
            }
        }
        if leader.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// The leader's record as it changes (read every half second; the default record while none
/// is found), for as long as the receiver lives.
pub fn follow_leader(cfg: &EtcdConfig) -> watch::Receiver<LeaderRecord> {
    let (tx, rx) = watch::channel(LeaderRecord::default());
    let cfg = cfg.clone();
    tokio::spawn(async move {
        let mut client = None;
        while !tx.is_closed() {
            if client.is_none() {
                client = connect(&cfg).await.ok();
            }
            if let Some(c) = client.as_mut() {
                match c.get(cfg.leader_key(), None).await {
                    Ok(r) => {
                        let rec = r
                            .kvs()
                            .first()
                            .map(|kv| LeaderRecord::parse(kv.value()))
                            .unwrap_or_default();
                        tx.send_if_modified(|old| {
                            let changed = *old != rec;
                            *old = rec;
                            changed
                        });
                    }
                    Err(e) => {
                        tracing::warn!("looking up the leader in etcd: {e}");
                        client = None;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}

//! List and download requests per second against the portal (issue 13): the HTTPS
//! server of `iotroute portal` in process (TLS 1.3, a client certificate of its CA
//! checked at every request, every request audited in SQLite), 48 slot messages of 1,000 device
//! points published for one retailer, and the retailer's client of `iotroute retailer
//! fetch` on kept-alive connections: one connection, and two at once (the machine's two
//! cores). No peer: the figure is the portal's own (`scripts/bench portal`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use edi::{FileName, PartyCode, Quality, Record};
use portal::client::PortalClient;
use portal::server::{self, Portal};
use portal::tls::Authority;
use portal::{Publisher, SqlitePortalStore};

fn record(p: u32, start: DateTime<Utc>) -> Record {
    Record {
        point: format!("09{p:020}").parse().unwrap(),
        terminal: [2, 0x1A, 0, 0, 0, (p >> 8) as u8, p as u8, 1],
        slot_start: start,
        interval_min: 30,
        in_wh: p % 900,
        out_wh: p % 77,
        cum_in_wh: p * 1_000,
        cum_out_wh: p * 10,
        quality: Quality::Measured,
        received_at: Some(start + TimeDelta::seconds(1_800)),
    }
}

fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("portal-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let authority = Authority::open(&dir.join("tls")).unwrap();
    let retailer: PartyCode = "R0001".parse().unwrap();
    let id = authority.issue(retailer, Utc::now()).unwrap();
    let ca = authority.ca_pem().unwrap();
    let midnight = DateTime::parse_from_rfc3339("2026-04-01T00:00:00+09:00")
        .unwrap()
        .with_timezone(&Utc);
    // The store `iotroute portal` serves from: SQLite, WAL, synchronous=FULL (each
    // request's audit record a committed transaction).
    let store = SqlitePortalStore::open(&dir.join("system.db")).unwrap();
    let mut publisher = Publisher::new("IOT09".parse().unwrap(), store);
    for s in 0..48 {
        let start = midnight + TimeDelta::minutes(30 * s);
        let records = (1..=1_000).map(|p| record(p, start)).collect();
        publisher
            .slot(
                start + TimeDelta::seconds(1_810),
                BTreeMap::from([(retailer, records)]),
            )
            .unwrap();
    }
    let name: FileName = "W41130202604011330000000.zip".parse().unwrap();
    let tls = server::server_config(&authority, &["127.0.0.1".to_owned()]).unwrap();
    let portal = Arc::new(Portal {
        store: Mutex::new(publisher.into_store()),
        authority,
        // The operations pages are not measured: an empty head end and MDMS.
        ops: portal::ops::Ops::new(
            Box::new(headend::storage::MemoryHeadendStore::new()),
            Box::new(mdms::MemoryStore::new()),
        ),
    });
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(server::serve(
            listener,
            tls,
            server::router(portal),
            std::future::pending(),
        ));
        format!("https://{addr}/30min/")
    });
    let connect = || {
        rt.block_on(PortalClient::connect(&url, &id.cert_pem, &id.key_pem, &ca))
            .unwrap()
    };
    let mut g = c.benchmark_group("portal_requests");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let mut one = connect();
    g.bench_function("list_48_files", |b| {
        b.iter(|| rt.block_on(one.list()).unwrap());
    });
    g.bench_function("download_one_file", |b| {
        b.iter(|| rt.block_on(one.file(&name)).unwrap());
    });
    let (mut a, mut z) = (connect(), connect());
    g.bench_function("list_and_download_two_connections", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (x, y) = tokio::join!(
                    async {
                        a.list().await.unwrap();
                        a.file(&name).await.unwrap()
                    },
                    async {
                        z.list().await.unwrap();
                        z.file(&name).await.unwrap()
                    }
                );
                (x, y)
            })
        });
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, requests);
criterion_main!(benches);

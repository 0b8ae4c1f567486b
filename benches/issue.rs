//! Criterion benchmarks of fedca's hot paths: parsing server names, signing one leaf
//! in memory (key generation + signing + the pre-issuance lint and webpki check), and
//! a whole issuance to disk (lock, journal, fsyncs, index), and a 100-server
//! `fedca::testing` federation in memory.
//!
//! `scripts/bench` compares the whole command with openssl, mkcert and cfssl.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use fedca::authority::{Constraints, InitOptions, KeyType, Permit};
use fedca::issue::{self, LeafProfile, LeafRequest};
use fedca::name::ServerName;
use fedca::Ca;

fn names(c: &mut Criterion) {
    let inputs = [
        "hs1.fed.test",
        "10.0.0.7:8448",
        "[fd00::7]:8448",
        "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
    ];
    c.bench_function("parse 4 server names", |b| {
        b.iter(|| {
            for n in inputs {
                black_box(ServerName::parse(black_box(n)).unwrap());
            }
        })
    });
}

fn signing(c: &mut Criterion) {
    for key in KeyType::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            key_type: key,
            permitted: Constraints(vec![Permit::parse("fed.test").unwrap()]),
            ..InitOptions::default()
        };
        let (ca, _) = Ca::init(tmp.path().join("ca"), &opts).unwrap();
        let req = LeafRequest::new(ServerName::parse("hs1.fed.test").unwrap());
        let now = time::OffsetDateTime::now_utc();
        let profile = LeafProfile::build(&req, ca.authority(), now).unwrap();
        c.bench_function(&format!("sign + lint one leaf ({key})"), |b| {
            b.iter(|| {
                black_box(
                    issue::sign(ca.authority(), profile.clone(), &Default::default()).unwrap(),
                )
            })
        });
    }
}

fn to_disk(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, _) = Ca::init(tmp.path().join("ca"), &InitOptions::default()).unwrap();
    let mut i = 0u64;
    c.bench_function("issue one leaf to disk (ecdsa-p256)", |b| {
        b.iter_batched(
            || {
                i += 1;
                LeafRequest::new(ServerName::parse(&format!("hs{i}.fed.test")).unwrap())
            },
            |req| black_box(ca.issue(&[req], None).unwrap()),
            BatchSize::SmallInput,
        )
    });
}

fn test_federation(c: &mut Criterion) {
    let names: Vec<String> = (0..100).map(|i| format!("hs{i}.fed.test")).collect();
    c.bench_function(
        "fedca::testing federation of 100 servers (ecdsa-p256)",
        |b| b.iter(|| black_box(fedca::TestFederation::new(&names).unwrap())),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = names, signing, to_disk
}
criterion_group! {
    name = federations;
    config = Criterion::default().sample_size(10);
    targets = test_federation
}
criterion_main!(benches, federations);

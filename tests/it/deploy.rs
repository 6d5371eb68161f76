//! The deployable parts, checked without a Docker engine or a cloud: the Dockerfile's shape,
//! the scraper definitions, the scheduler jobs and the deploy script's dry run. The deploy
//! script runs against a fake `gcloud` (`gcloud`): its jobs, failures and usage (`script`), the
//! values it needs (`values`), what must exist and the roles it grants (`prerequisites`), and
//! the Cloud Run service it fills in (`service`).

mod gcloud;
mod prerequisites;
mod script;
mod service;
mod values;

use std::path::PathBuf;

fn repo(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_non_root_in_another() {
    let file = repo("Dockerfile");
    let lines: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "ARG",
        "ENV",
        "RUN",
        "USER",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
    ];
    let mut continued = false;
    for l in &lines {
        if !continued {
            let word = l.split_whitespace().next().unwrap();
            assert!(
                known.contains(&word),
                "unknown instruction {word:?} in {l:?}"
            );
        }
        continued = l.ends_with('\\');
    }
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: build, then runtime");
    assert!(froms[0].ends_with(" AS build"));
    let runtime = lines
        .iter()
        .position(|l| l.starts_with("FROM ") && !l.ends_with(" AS build"))
        .unwrap();
    let tail = &lines[runtime..];
    let user = tail
        .iter()
        .find(|l| l.starts_with("USER "))
        .expect("the runtime stage sets USER");
    assert!(!user.contains("root") || user.contains("nonroot"), "{user}");
    assert!(tail.iter().any(|l| l.starts_with("COPY --from=build")));
    assert!(
        tail.iter().any(|l| l.contains("PORT=8080")),
        "PORT has a default the binary honours"
    );
    // On Cloud Run the service refuses a ledger on the instance's disk (config.rs): the image
    // names none, so the service file's Cloud SQL ledger is the only one.
    assert!(
        !tail.iter().any(|l| l.contains("BACKSTOP_LEDGER")),
        "the image sets no ledger"
    );
    assert!(tail
        .iter()
        .any(|l| l.starts_with("CMD") && l.contains("serve")));
    the_build_stage_caches_dependencies_and_leaves_the_simulator_out(&lines[..runtime]);
    // The schedule is embedded by the build (src/scrapers.rs): the markets expected on a date.
    assert!(
        lines.iter().any(|l| l.starts_with("COPY scrapers")),
        "the build embeds scrapers/*.json"
    );
    let doubles = ["fixtures", "tests", "benches"];
    for l in lines.iter().filter(|l| l.starts_with("COPY")) {
        assert!(
            !doubles.iter().any(|d| l.contains(d)),
            "the image needs no {l:?}"
        );
    }
}

/// Dependencies are built against a stub crate before the sources are copied (a layer that
/// survives source changes), then the service; both without the `sim` feature.
fn the_build_stage_caches_dependencies_and_leaves_the_simulator_out(build: &[&str]) {
    let step = |needle: &str| build.iter().position(|l| l.contains(needle));
    let manifests = step("COPY Cargo.toml Cargo.lock").expect("the manifests are copied first");
    let sources = step("COPY src src").expect("the sources are copied");
    let builds: Vec<usize> = (0..build.len())
        .filter(|&i| build[i].contains("cargo build"))
        .collect();
    assert_eq!(
        builds.len(),
        2,
        "a dependency build, then the service's: {build:?}"
    );
    assert!(
        manifests < builds[0] && builds[0] < sources && sources < builds[1],
        "manifests, dependency build, sources, service build: {build:?}"
    );
    for &i in &builds {
        assert!(
            build[i].contains("cargo build --release --locked --no-default-features"),
            "{}",
            build[i]
        );
    }
    let stub = &build[manifests..builds[0]];
    assert!(
        stub.iter().any(|l| l.contains("fn main() {}")),
        "a stub main: {stub:?}"
    );
    // Else the sources, older than the stub's build, could leave the stub in the image.
    let before_service = &build[sources..=builds[1]];
    assert!(
        before_service
            .iter()
            .any(|l| l.contains("touch src/main.rs src/lib.rs")),
        "{before_service:?}"
    );
}

/// A scraper definition in `scrapers/`, rendered for a sample date, market and run.
pub(crate) fn definition(name: &str) -> serde_json::Value {
    serde_json::from_str(&repo(&format!("scrapers/{name}.json")))
        .expect("scraper definitions are JSON")
}

fn render(template: &str) -> String {
    template
        .replace("{date}", "2026-01-14")
        .replace("{timestamp}", "20260114_180530")
        .replace("{market_type}", "points")
        .replace("{market_id}", "156")
        .replace("{event_ids}", "30001:30002")
        .replace("{page}", "3")
}

#[test]
fn the_scraper_definitions_say_what_the_code_does() {
    use backstop::bettingpros::Upstream;
    use backstop::config::{FetchSettings, Secret, UpstreamSettings};
    use backstop::market::MarketType;
    use backstop::run::Scraper;
    use backstop::storage::StorageKey;

    let upstream = Upstream::new(&UpstreamSettings {
        base_url: "https://api.bettingpros.com/v3".into(),
        api_key: Some(Secret::new("k")),
    })
    .unwrap();
    let date = "2026-01-14".parse().unwrap();
    let started = chrono::NaiveDateTime::parse_from_str("20260114_180530", "%Y%m%d_%H%M%S")
        .unwrap()
        .and_utc();
    for scraper in Scraper::ALL {
        let d = definition(scraper.name());
        assert_eq!(d["name"], scraper.name());
        assert_eq!(d["processor_name"], scraper.processor_name());
        assert_eq!(
            d["rate_budget_per_sec"],
            FetchSettings::default().rate_per_sec
        );
        let (req, key) = match scraper {
            Scraper::Events => (
                upstream.events_request(date, String::new(), None).unwrap(),
                StorageKey::events(date, started),
            ),
            Scraper::PlayerProps => (
                upstream
                    .offers_request(MarketType::Points, &[30001, 30002], 3, String::new(), None)
                    .unwrap(),
                StorageKey::props(MarketType::Points, date, started, true),
            ),
        };
        assert_eq!(
            render(d["storage_key"].as_str().unwrap()),
            key.object_name(),
            "{}",
            scraper.name()
        );
        assert_eq!(
            req.url.path(),
            format!("/v3{}", d["endpoint"].as_str().unwrap())
        );
        let mut sent: Vec<(String, String)> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut declared: Vec<(String, String)> = d["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), render(v.as_str().unwrap())))
            .collect();
        sent.sort();
        declared.sort();
        assert_eq!(sent, declared, "{}", scraper.name());
    }
}

#[test]
fn the_scheduler_jobs_scrape_every_market_with_points_as_today() {
    let d = definition("bp_player_props");
    let jobs: Vec<(&str, &str, &str)> = d["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["cron"].as_str().unwrap(),
                j["time_zone"].as_str().unwrap(),
                j["market_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            ("0 5-23/2 * * *", "America/New_York", "points"),
            ("0 10,16,18 * * *", "America/New_York", "assists"),
            ("5 10,16,18 * * *", "America/New_York", "rebounds"),
            ("10 10,16,18 * * *", "America/New_York", "threes"),
            ("15 10,16,18 * * *", "America/New_York", "steals"),
            ("20 10,16,18 * * *", "America/New_York", "blocks"),
        ],
        "points every 2 h from 5 AM to 11 PM ET; every other market at 10:00, 16:00 and 18:00 \
         ET (the last lines before evening tip-offs), five minutes apart (the rate budget: src/scrapers.rs)"
    );
    let mut declared: Vec<&str> = jobs.iter().map(|j| j.2).collect();
    declared.sort();
    let mut expected: Vec<String> = backstop::scrapers::scheduled_markets()
        .iter()
        .map(|m| m.to_string())
        .collect();
    expected.sort();
    assert_eq!(declared, expected, "the code reads the same declaration");
}

#[test]
fn the_deploy_script_dry_run_prints_authenticated_scheduler_jobs() {
    let out = gcloud::deploy(&["--dry-run"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    assert!(text.contains("gcloud run services replace"), "{text}");
    assert!(
        text.contains("remove-iam-policy-binding") && text.contains("allUsers"),
        "no unauthenticated access: {text}"
    );
    let jobs: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("+ gcloud scheduler jobs"))
        .collect();
    let declared = gcloud::scheduled_jobs();
    assert_eq!(jobs.len(), declared.len(), "{text}");
    for (job, declared) in jobs.iter().zip(&declared) {
        assert!(job.contains(&format!(" {} ", declared.name)), "{job}");
        assert!(job.contains("--time-zone America/New_York"), "{job}");
        assert!(
            job.contains("--oidc-token-audience https://backstop-PLACEHOLDER-uw.a.run.app "),
            "audience is the bare URL: {job}"
        );
        assert!(
            job.contains(&format!(
                " --uri https://backstop-PLACEHOLDER-uw.a.run.app{} ",
                declared.route
            )),
            "{job}"
        );
    }
}

#[test]
fn the_sweep_is_scheduled_every_few_minutes_with_its_own_route_body_and_deadline() {
    let sweeps: Vec<_> = gcloud::scheduled_jobs()
        .into_iter()
        .filter(|j| j.route == "/sweep")
        .collect();
    assert_eq!(sweeps.len(), 1, "one sweep job (scrapers/maintenance/)");
    let out = gcloud::deploy(&["--dry-run"], &[]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(&format!(" {} ", sweeps[0].name)))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let sweep = definition("maintenance/sweep");
    for part in [
        "+ gcloud scheduler jobs create http ".to_string(),
        format!(" --http-method {} ", sweep["method"].as_str().unwrap()),
        " --message-body \\{\\} ".to_string(),
        format!(" --attempt-deadline {}s ", sweep["attempt_deadline_secs"]),
        // The cron as bash's %q prints it.
        format!(
            " --schedule {} ",
            sweep["schedule"][0]["cron"]
                .as_str()
                .unwrap()
                .replace('*', "\\*")
                .replace(' ', "\\ ")
                .replace(',', "\\,")
        ),
        " --oidc-token-audience https://backstop-PLACEHOLDER-uw.a.run.app ".to_string(),
    ] {
        assert!(line.contains(&part), "{part:?} in {line}");
    }
}

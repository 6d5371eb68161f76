//! Detection jobs: one unfinished detection per range across instances, carried on under a
//! lease by one instance at a time, finished once, forgotten a day later.

use std::time::Duration;

use chrono::Duration as Span;
use serde_json::json;

use super::{at, Backend};

const MINUTE: Duration = Duration::from_secs(60);
const KEY: &str = "2026-01-01|2026-01-31|steals";

pub async fn one_detection_per_range_carried_on_by_one_instance_at_a_time(b: &Backend) {
    let (x, y) = (b.instance("x", MINUTE).await, b.instance("y", MINUTE).await);
    let query = json!({"from": "2026-01-01", "to": "2026-01-31", "markets": ["steals"]});
    let rows = json!({"rows": []});
    let (t0, none) = (at(9, 0), json!([]));
    let (a, b2) = tokio::join!(
        x.open_detection(KEY, &query, &none, &rows, t0),
        y.open_detection(KEY, &query, &none, &rows, t0)
    );
    let ((a, made_a), (b2, made_b)) = (a.unwrap(), b2.unwrap());
    assert!(made_a ^ made_b, "made once: {made_a} {made_b}");
    assert_eq!(a.id, b2.id, "one detection for the range");
    let id = a.id;
    let t1 = t0 + Span::seconds(1);
    assert_eq!(
        y.detections_to_advance(t1).await.unwrap(),
        vec![id.clone()],
        "its maker's slice is over: free at once"
    );
    assert!(x.adopt_detection(&id, t1).await.unwrap());
    assert!(!y.adopt_detection(&id, t1).await.unwrap(), "held");
    assert!(y.detections_to_advance(t1).await.unwrap().is_empty());
    let answers = json!([["2026-01-01", [{"known": 4}, null]]]);
    let some = json!({"rows": [{"date": "2026-01-01"}]});
    assert!(
        !y.save_detection(&id, &answers, &some, t1).await.unwrap(),
        "not y's"
    );
    assert!(x.save_detection(&id, &answers, &some, t1).await.unwrap());
    let t2 = t1 + Span::seconds(1);
    assert!(
        y.adopt_detection(&id, t2).await.unwrap(),
        "saved: free again"
    );
    let stored = y.detection(&id).await.unwrap().unwrap();
    assert_eq!((stored.answers, stored.report), (answers, Some(some)));
    let whole = json!({"rows": [{"date": "2026-01-01"}, {"date": "2026-01-02"}]});
    assert!(
        !x.finish_detection(&id, &whole, t2).await.unwrap(),
        "y holds it now"
    );
    assert!(y.finish_detection(&id, &whole, t2).await.unwrap());
    let done = x.detection(&id).await.unwrap().unwrap();
    assert_eq!((done.finished_at, done.report), (Some(t2), Some(whole)));
    assert!(x.unfinished_detection(KEY).await.unwrap().is_none());
    assert!(x.detections_to_advance(at(10, 0)).await.unwrap().is_empty());

    let (next, made) = x
        .open_detection(KEY, &query, &none, &rows, at(11, 0))
        .await
        .unwrap();
    assert!(
        made && next.id != id,
        "a finished detection does not block the range"
    );
    assert_eq!(x.forget_detections(t2).await.unwrap(), 0, "not older yet");
    assert_eq!(x.forget_detections(at(12, 0)).await.unwrap(), 1);
    assert!(x.detection(&id).await.unwrap().is_none());
    assert!(
        x.detection(&next.id).await.unwrap().is_some(),
        "unfinished: kept"
    );
}

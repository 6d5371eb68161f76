//! What one request tried, route by route: which failures are the route's fault, which routes
//! are still open to it and which it has not tried (what the retry policy decides from), and
//! how to say "403 from all 2 proxies and direct" when every route refused.

use serde::Serialize;

use super::breaker::Verdict;
use super::outcome::Failure;

/// Which sort of way out a route is: it decides which failures are the route's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    Direct,
    Proxy,
}

/// A failure that is the route's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The route will answer the same again (403 from the upstream, 407 from the proxy):
    /// the request does not use it again.
    Firm,
    /// The proxy failed (its 502/504, no connection, no tunnel): prefer another route.
    Soft,
}

/// What an attempt's outcome says about its route.
pub fn judge(kind: RouteKind, failure: Option<Failure>) -> (Verdict, Option<Refusal>) {
    use Failure::*;
    let Some(failure) = failure else {
        return (Verdict::Healthy, None);
    };
    match (kind, failure) {
        (_, Status(403)) | (RouteKind::Proxy, Status(407)) => {
            (Verdict::RouteFailure, Some(Refusal::Firm))
        }
        (RouteKind::Proxy, Status(502 | 504) | Connect | ProxyTunnel) => {
            (Verdict::RouteFailure, Some(Refusal::Soft))
        }
        (_, Timeout | Reset | Truncated | Deadline | Challenge | Connect) => {
            (Verdict::Inconclusive, None)
        }
        _ => (Verdict::Healthy, None),
    }
}

#[derive(Debug, Clone)]
struct Step {
    route: usize,
    failure: Option<Failure>,
    refusal: Option<Refusal>,
}

/// How every route refused, once none is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEverywhere {
    /// `403 from all 2 proxies and direct`, `407 from res-1, 403 from res-2 and direct`.
    pub summary: String,
    /// At least one route answered 403: the request is `Blocked`.
    pub blocked: bool,
}

/// One request's attempts.
#[derive(Debug, Clone)]
pub struct Trail {
    routes: Vec<(String, RouteKind)>,
    /// Where in the pool this request starts (round-robin over requests).
    rotation: usize,
    steps: Vec<Step>,
}

impl Trail {
    pub fn new(routes: Vec<(String, RouteKind)>, rotation: usize) -> Self {
        Self {
            routes,
            rotation,
            steps: Vec::new(),
        }
    }

    pub fn rotation(&self) -> usize {
        self.rotation
    }

    /// Records an attempt; returns what it says about the route.
    pub fn record(&mut self, route: usize, failure: Option<Failure>) -> Verdict {
        let (verdict, refusal) = judge(self.routes[route].1, failure);
        self.steps.push(Step {
            route,
            failure,
            refusal,
        });
        verdict
    }

    /// Whether the request is done with this route. With a pool, one refusal is enough; a
    /// lone route gets one more try after a 403 (an edge hiccup is possible, a block is not
    /// fixed by hammering), none after a 407 (the same credentials get the same answer).
    pub fn refused(&self, route: usize) -> bool {
        let allowance = if self.routes.len() == 1 { 2 } else { 1 };
        let firm: Vec<Option<Failure>> = self
            .steps
            .iter()
            .filter(|s| s.route == route && s.refusal == Some(Refusal::Firm))
            .map(|s| s.failure)
            .collect();
        firm.len() >= allowance || firm.iter().any(|f| *f != Some(Failure::Status(403)))
    }

    /// The route to avoid next: the last one, if it failed through its own fault.
    pub fn avoid(&self) -> Option<usize> {
        self.steps
            .last()
            .filter(|s| s.refusal.is_some())
            .map(|s| s.route)
    }

    /// Attempts recorded so far.
    pub fn attempts(&self) -> u32 {
        self.steps.len() as u32
    }

    /// How many routes there are.
    pub fn routes(&self) -> u32 {
        self.routes.len() as u32
    }

    /// How the last attempt's route was at fault, if it was.
    pub fn last_refusal(&self) -> Option<Refusal> {
        self.steps.last().and_then(|s| s.refusal)
    }

    /// Some route has not refused this request.
    pub fn any_open(&self) -> bool {
        (0..self.routes.len()).any(|r| !self.refused(r))
    }

    /// Some route that has not refused this request has not been tried by it either.
    pub fn untried_open(&self) -> bool {
        (0..self.routes.len()).any(|r| !self.refused(r) && self.steps.iter().all(|s| s.route != r))
    }

    /// The route of each attempt, in order.
    pub fn names(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| self.routes[s.route].0.clone())
            .collect()
    }

    /// The route of the latest attempt (empty before any).
    pub fn last_route(&self) -> String {
        self.steps
            .last()
            .map(|s| self.routes[s.route].0.clone())
            .unwrap_or_default()
    }

    /// When every route has refused, how they did. `None` for a lone direct route, whose
    /// error stays as it always was.
    pub fn refused_everywhere(&self) -> Option<RefusedEverywhere> {
        let lone_direct = matches!(self.routes.as_slice(), [(_, RouteKind::Direct)]);
        if lone_direct || !(0..self.routes.len()).all(|r| self.refused(r)) {
            return None;
        }
        // Proxies in their configured order, then direct.
        let mut order: Vec<usize> = (0..self.routes.len()).collect();
        order.sort_by_key(|&r| self.routes[r].1 == RouteKind::Direct);
        let code = |r: usize| {
            self.steps
                .iter()
                .rev()
                .find(|s| s.route == r && s.refusal == Some(Refusal::Firm))
                .and_then(|s| match s.failure {
                    Some(Failure::Status(code)) => Some(code),
                    _ => None,
                })
                .unwrap_or(0)
        };
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for r in order {
            match groups.iter_mut().find(|(c, _)| *c == code(r)) {
                Some((_, members)) => members.push(r),
                None => groups.push((code(r), vec![r])),
            }
        }
        let summary = match groups.as_slice() {
            [(code, members)] => format!("{code} from {}", self.everyone(members)),
            _ => groups
                .iter()
                .map(|(code, members)| {
                    let names: Vec<&str> =
                        members.iter().map(|&r| self.routes[r].0.as_str()).collect();
                    format!("{code} from {}", join_and(&names))
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        Some(RefusedEverywhere {
            summary,
            blocked: groups.iter().any(|(code, _)| *code == 403),
        })
    }

    /// `all 3 proxies and direct`, `all 2 proxies`, `proxy res-1 and direct`.
    fn everyone(&self, members: &[usize]) -> String {
        let proxies: Vec<&str> = members
            .iter()
            .filter(|&&r| self.routes[r].1 == RouteKind::Proxy)
            .map(|&r| self.routes[r].0.as_str())
            .collect();
        let direct = proxies.len() < members.len();
        let pool = match proxies.as_slice() {
            [] => String::new(),
            [one] => format!("proxy {one}"),
            many => format!("all {} proxies", many.len()),
        };
        match (pool.is_empty(), direct) {
            (true, _) => "direct".into(),
            (false, true) => format!("{pool} and direct"),
            (false, false) => pool,
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
impl Trail {
    /// A trail over these proxies and, if `direct`, the direct route listed first (as
    /// `direct-then-proxies` builds it: order must not matter).
    pub(super) fn over(proxies: &[&str], direct: bool) -> Trail {
        let mut routes: Vec<(String, RouteKind)> = Vec::new();
        if direct {
            routes.push(("direct".into(), RouteKind::Direct));
        }
        routes.extend(proxies.iter().map(|p| (p.to_string(), RouteKind::Proxy)));
        Trail::new(routes, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Failure::Status;

    fn fail(t: &mut Trail, route: usize, failure: Failure) {
        t.record(route, Some(failure));
    }

    #[test]
    fn what_is_the_routes_fault() {
        use RouteKind::*;
        let firm = (Verdict::RouteFailure, Some(Refusal::Firm));
        let soft = (Verdict::RouteFailure, Some(Refusal::Soft));
        assert_eq!(judge(Proxy, Some(Status(403))), firm);
        assert_eq!(judge(Direct, Some(Status(403))), firm);
        assert_eq!(judge(Proxy, Some(Status(407))), firm);
        assert_eq!(judge(Direct, Some(Status(407))).1, None);
        for f in [
            Status(502),
            Status(504),
            Failure::Connect,
            Failure::ProxyTunnel,
        ] {
            assert_eq!(judge(Proxy, Some(f)), soft, "{f:?}");
        }
        assert_eq!(judge(Direct, Some(Status(502))), (Verdict::Healthy, None));
        assert_eq!(
            judge(Direct, Some(Failure::Connect)).0,
            Verdict::Inconclusive
        );
        assert_eq!(
            judge(Proxy, Some(Failure::Timeout)).0,
            Verdict::Inconclusive
        );
        assert_eq!(judge(Proxy, Some(Status(503))), (Verdict::Healthy, None));
        assert_eq!(judge(Proxy, None), (Verdict::Healthy, None));
    }

    #[test]
    fn mixed_refusals_are_grouped_by_status() {
        let mut t = Trail::over(&["res-1", "res-2"], true);
        fail(&mut t, 1, Status(407));
        fail(&mut t, 0, Status(403));
        fail(&mut t, 2, Status(403));
        let all = t.refused_everywhere().unwrap();
        assert_eq!(all.summary, "407 from res-1, 403 from res-2 and direct");
        assert!(all.blocked);

        let mut t = Trail::over(&["res-1", "res-2"], false);
        fail(&mut t, 0, Status(407));
        fail(&mut t, 1, Status(407));
        let all = t.refused_everywhere().unwrap();
        assert_eq!(all.summary, "407 from all 2 proxies");
        assert!(!all.blocked);

        let mut t = Trail::over(&["res-1"], true);
        fail(&mut t, 0, Status(403));
        fail(&mut t, 1, Status(403));
        assert_eq!(
            t.refused_everywhere().unwrap().summary,
            "403 from proxy res-1 and direct"
        );
    }

    #[test]
    fn a_route_that_refused_is_closed_avoided_and_counted_as_tried() {
        let mut t = Trail::over(&["res-1", "res-2"], true);
        assert!(t.any_open() && t.untried_open() && t.last_refusal().is_none());
        fail(&mut t, 0, Status(403));
        assert_eq!((t.attempts(), t.routes()), (1, 3));
        assert_eq!(t.last_refusal(), Some(Refusal::Firm));
        assert!(t.refused(0) && !t.refused(1));
        assert_eq!(t.avoid(), Some(0));
        assert!(t.untried_open());
        fail(&mut t, 1, Status(503));
        assert_eq!((t.last_refusal(), t.avoid()), (None, None));
        fail(&mut t, 2, Status(502));
        assert_eq!(t.last_refusal(), Some(Refusal::Soft));
        assert!(
            t.any_open() && !t.untried_open(),
            "every open route was tried"
        );
        assert_eq!(t.names(), ["direct", "res-1", "res-2"]);
    }

    #[test]
    fn names_join_like_a_sentence() {
        assert_eq!(join_and(&["a"]), "a");
        assert_eq!(join_and(&["a", "b"]), "a and b");
        assert_eq!(join_and(&["a", "b", "c"]), "a, b and c");
    }
}

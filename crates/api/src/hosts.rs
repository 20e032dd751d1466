//! Which `Host` a local server answers. A server on loopback is still reachable from a web
//! page whose name its attacker rebinds to 127.0.0.1 (DNS rebinding): the browser then sends
//! the attacker's name as `Host`, and the page is same-origin with the server. Answering only
//! the loopback names (and the names the user allows) closes that door.

/// The hosts a local server accepts besides its loopback names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// The port the server listens on: loopback names must carry it.
    pub port: u16,
    /// Names given with `--allow-host`, each as `name` (any port) or `name:port`, compared
    /// without regard to case.
    pub extra: Vec<String>,
}

/// `host[:port]` split, with IPv6 literals kept in their brackets.
fn split_host(value: &str) -> (&str, Option<&str>) {
    if value.starts_with('[') {
        return match value.find(']') {
            Some(end) => {
                let (host, rest) = value.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (value, None),
        };
    }
    match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    }
}

impl AllowedHosts {
    pub fn new(port: u16, extra: Vec<String>) -> AllowedHosts {
        AllowedHosts { port, extra }
    }

    /// Whether a request with this `Host` header (none: refused) is for this server.
    pub fn allows(&self, host_header: Option<&str>) -> bool {
        if self.is_loopback(host_header) {
            return true;
        }
        let Some(value) = host_header.map(str::trim).filter(|v| !v.is_empty()) else {
            return false;
        };
        let (host, port) = split_host(value);
        self.extra.iter().any(|allowed| {
            let (name, allowed_port) = split_host(allowed);
            name.eq_ignore_ascii_case(host) && allowed_port.is_none_or(|p| Some(p) == port)
        })
    }

    /// Whether the `Host` header names this server by a loopback name on its port: a client
    /// on this machine, not one through a name given with `--allow-host` (a tunnel's).
    pub fn is_loopback(&self, host_header: Option<&str>) -> bool {
        let Some(value) = host_header.map(str::trim).filter(|v| !v.is_empty()) else {
            return false;
        };
        let (host, port) = split_host(value);
        let port_is_ours = match port {
            Some(port) => port.parse::<u16>().ok() == Some(self.port),
            // Without a port a client means the scheme's default.
            None => self.port == 80,
        };
        let loopback = ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host.eq_ignore_ascii_case(name));
        loopback && port_is_ours
    }

    /// The refusal's message, for the response body.
    pub fn refusal(&self, host_header: Option<&str>) -> String {
        match host_header {
            Some(host) => format!(
                "this server answers only 127.0.0.1:{port}, localhost:{port} and [::1]:{port}, not Host {host:?}; \
                 start it with --allow-host NAME to accept another name",
                port = self.port
            ),
            None => "the request has no Host header".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_on_our_port_are_accepted() {
        let hosts = AllowedHosts::new(8080, vec![]);
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"] {
            assert!(hosts.allows(Some(host)), "{host}");
        }
    }

    #[test]
    fn a_rebound_name_another_port_or_no_host_is_refused() {
        let hosts = AllowedHosts::new(8080, vec![]);
        for host in [
            "attacker.example:8080",
            "attacker.example",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost.attacker.example:8080",
            "127.0.0.1.nip.io:8080",
            "[::1]",
            "",
        ] {
            assert!(!hosts.allows(Some(host)), "{host}");
        }
        assert!(!hosts.allows(None));
        assert!(hosts.refusal(Some("attacker.example:8080")).contains("--allow-host"));
    }

    #[test]
    fn allowed_names_are_accepted_with_any_port_or_the_given_one() {
        let hosts = AllowedHosts::new(8080, vec!["tunnel.example".into(), "box.lan:9000".into()]);
        assert!(hosts.allows(Some("tunnel.example")));
        assert!(hosts.allows(Some("Tunnel.Example:443")));
        assert!(hosts.allows(Some("box.lan:9000")));
        assert!(!hosts.allows(Some("box.lan:9001")));
        assert!(!hosts.allows(Some("other.example")));
    }

    #[test]
    fn port_80_takes_a_host_without_a_port() {
        assert!(AllowedHosts::new(80, vec![]).allows(Some("localhost")));
    }
}

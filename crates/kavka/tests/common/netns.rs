//! Hosts for fault tests: one network namespace per node, each with a veth into a bridge in
//! the test's namespace (addresses private to the test: 10.<a>.<b>.0/24 from the test's pid),
//! so a node can be cut off (its link down) and healed while its process keeps running.
//! Needs root (CAP_NET_ADMIN), as the test machines have.

use std::process::Command;

/// The bridge, namespaces and links of one test; removed on drop.
pub struct Hosts {
    tag: String,
    subnet: String,
    count: usize,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hosts {
    /// `count` hosts named `<tag>n<i>` (i from 1), at `<subnet>.<10 + i>`; the bridge is
    /// `<subnet>.1`.
    pub fn new(count: usize) -> Hosts {
        let pid = std::process::id();
        let tag = format!("kv{}", pid % 100_000);
        let subnet = format!("10.{}.{}", 100 + (pid / 250) % 150, pid % 250);
        let hosts = Hosts { tag, subnet, count };
        let bridge = hosts.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}.1/24", hosts.subnet),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 1..=count {
            let ns = hosts.namespace(i);
            let outside = hosts.link(i);
            let inside = format!("{}i{i}", hosts.tag);
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ]);
            ip(&["link", "set", &inside, "netns", &ns]);
            ip(&["link", "set", &outside, "master", &bridge]);
            ip(&["link", "set", &outside, "up"]);
            let addr = format!("{}/24", hosts.address(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &inside]);
            ip(&["-n", &ns, "link", "set", &inside, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn link(&self, i: usize) -> String {
        format!("{}h{i}", self.tag)
    }

    /// The namespace of host `i`.
    pub fn namespace(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    /// The address of host `i`.
    pub fn address(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// Cuts host `i` off from every other host (and from the test).
    pub fn isolate(&self, i: usize) {
        ip(&["link", "set", &self.link(i), "down"]);
    }

    /// Connects host `i` again.
    pub fn heal(&self, i: usize) {
        ip(&["link", "set", &self.link(i), "up"]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 1..=self.count {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.namespace(i)])
                .status();
            let _ = Command::new("ip")
                .args(["link", "del", &self.link(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .status();
    }
}

//! A small internet in network namespaces: a "public" network (198.18.0.0/24, a range reserved
//! for benchmarks, inside its own namespace) with a relay on it, and private networks each
//! behind a router that masquerades (iptables NAT), like a home or café router.
//!
//! ```text
//!   relay 198.18.0.1 ─┐
//!                     ├─ public bridge (in its own namespace)
//!   router k 198.18.0.(10+k) ── 10.0.k.1 ── site k 10.0.k.2   (k = 1, 2, …)
//! ```
//!
//! The test process reaches each node's HTTP API over a separate management bridge on the host
//! (`10.232.N.0/24`). Nodes must listen on their network address only (`listen_addr`), so no
//! node ever learns or dials a management address. Needs root, iproute2 and iptables; every
//! namespace and link is removed on drop.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::process::Process;

/// The public network's prefix.
const PUBLIC: &str = "198.18.0";

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

/// Runs `args` (a program and its arguments) inside namespace `ns`.
fn in_ns(ns: &str, args: &[&str]) -> Result<()> {
    run("ip", &[&["netns", "exec", ns][..], args].concat())
}

/// Whether this machine can build the NAT world (root, `ip`, `iptables`).
pub fn available() -> bool {
    crate::netns::available()
        && Command::new("iptables")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// The namespaces and links of one NAT world; see the module docs.
pub struct NatWorld {
    tag: String,
    mgmt: String,
    namespaces: Vec<String>,
    mgmt_hosts: usize,
    /// Number of private sites.
    pub sites: usize,
}

impl NatWorld {
    /// Builds the public network with a relay host and `sites` private networks behind NAT.
    pub fn create(sites: usize) -> Result<NatWorld> {
        let pid = std::process::id();
        let tag = format!("{}", pid % 100_000);
        let mut world = NatWorld {
            mgmt: format!("10.232.{}", pid % 250),
            tag,
            namespaces: Vec::new(),
            mgmt_hosts: 0,
            sites,
        };
        let public = world.add_ns("pub")?;
        ip(&["-n", &public, "link", "add", "pbr", "type", "bridge"])?;
        ip(&["-n", &public, "link", "set", "pbr", "up"])?;
        let mgmt_bridge = world.mgmt_bridge();
        ip(&["link", "add", &mgmt_bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.254/24", world.mgmt),
            "dev",
            &mgmt_bridge,
        ])?;
        ip(&["link", "set", &mgmt_bridge, "up"])?;

        let relay = world.add_ns("relay")?;
        world.plug_public(&relay, "r", &format!("{PUBLIC}.1"))?;
        world.plug_mgmt(&relay)?;
        for k in 1..=sites {
            let router = world.add_ns(&format!("rt{k}"))?;
            world.plug_public(&router, &format!("g{k}"), &format!("{PUBLIC}.{}", 10 + k))?;
            let site = world.add_ns(&format!("s{k}"))?;
            let inside = format!("ci{}s{k}", world.tag);
            ip(&[
                "link", "add", &inside, "netns", &router, "type", "veth", "peer", "name", "eth0",
                "netns", &site,
            ])?;
            ip(&["-n", &router, "link", "set", &inside, "name", "lan0"])?;
            ip(&[
                "-n",
                &router,
                "addr",
                "add",
                &format!("10.0.{k}.1/24"),
                "dev",
                "lan0",
            ])?;
            ip(&["-n", &router, "link", "set", "lan0", "up"])?;
            ip(&[
                "-n",
                &site,
                "addr",
                "add",
                &format!("10.0.{k}.2/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &site, "link", "set", "eth0", "up"])?;
            ip(&[
                "-n",
                &site,
                "route",
                "add",
                "default",
                "via",
                &format!("10.0.{k}.1"),
            ])?;
            in_ns(&router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
            in_ns(
                &router,
                &[
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "wan0",
                    "-j",
                    "MASQUERADE",
                ],
            )?;
            // Like any home router, drop unsolicited packets from outside (instead of the
            // kernel's RST), so a hole punch's first SYN does not kill the other side's dial.
            in_ns(
                &router,
                &[
                    "iptables",
                    "-A",
                    "INPUT",
                    "-i",
                    "wan0",
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "NEW,INVALID",
                    "-j",
                    "DROP",
                ],
            )?;
            world.plug_mgmt(&site)?;
        }
        Ok(world)
    }

    fn add_ns(&mut self, name: &str) -> Result<String> {
        let ns = format!("cn{}{name}", self.tag);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn mgmt_bridge(&self) -> String {
        format!("cmg{}", self.tag)
    }

    /// A veth from `ns` (named `wan0` there) onto the public bridge, with address `addr`.
    fn plug_public(&self, ns: &str, short: &str, addr: &str) -> Result<()> {
        let public = &self.namespaces[0];
        let outer = format!("cp{}{short}", self.tag);
        ip(&[
            "link", "add", &outer, "netns", public, "type", "veth", "peer", "name", "wan0",
            "netns", ns,
        ])?;
        ip(&["-n", public, "link", "set", &outer, "master", "pbr", "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "wan0",
        ])?;
        ip(&["-n", ns, "link", "set", "wan0", "up"])?;
        Ok(())
    }

    /// A veth from `ns` (named `mg0` there) onto the host's management bridge.
    fn plug_mgmt(&mut self, ns: &str) -> Result<()> {
        self.mgmt_hosts += 1;
        let n = self.mgmt_hosts;
        let outer = format!("cm{}h{n}", self.tag);
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", "mg0", "netns", ns,
        ])?;
        ip(&["link", "set", &outer, "master", &self.mgmt_bridge(), "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}.{n}/24", self.mgmt),
            "dev",
            "mg0",
        ])?;
        ip(&["-n", ns, "link", "set", "mg0", "up"])?;
        Ok(())
    }

    /// The relay's public address.
    pub fn relay_ip(&self) -> String {
        format!("{PUBLIC}.1")
    }

    /// Namespace and addresses of host `h`: 0 is the relay, `k` is site k.
    fn host(&self, h: usize) -> (String, String, String) {
        let ns = if h == 0 {
            self.namespaces[1].clone()
        } else {
            format!("cn{}s{h}", self.tag)
        };
        let net_ip = if h == 0 {
            self.relay_ip()
        } else {
            format!("10.0.{h}.2")
        };
        (ns, net_ip, format!("{}.{}", self.mgmt, h + 1))
    }

    /// Starts `chatly run` on host `h` (0 = relay, k = site k) with TCP and QUIC on port 4001 of
    /// its network address, no mDNS, the UI on its management address, and `extra` flags.
    pub async fn start_node(
        &self,
        h: usize,
        data: &std::path::Path,
        extra: &[String],
    ) -> Result<(Process, crate::Client)> {
        let (ns, net_ip, mgmt_ip) = self.host(h);
        let http = format!("{mgmt_ip}:7420");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(crate::netns::chatly_bin()?)
            .args(["run", "--no-mdns", "--data-dir"])
            .arg(data.join(format!("host{h}")))
            .args(["--http", &http, "--name", &format!("host{h}")])
            .args(["--listen", &format!("/ip4/{net_ip}/tcp/4001")])
            .args(["--listen", &format!("/ip4/{net_ip}/udp/4001/quic-v1")])
            .args(extra)
            .env("RUST_LOG", "info,libp2p=warn,libp2p_dcutr=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting chatly in a namespace")?;
        let (process, client) = crate::process::attach(child).await?;
        crate::wait_for("the node to answer", crate::PATIENCE, || async {
            client.get("/healthz").await.ok().filter(|(s, _)| *s == 200)
        })
        .await?;
        Ok((process, client))
    }
}

impl Drop for NatWorld {
    fn drop(&mut self) {
        for n in 1..=self.mgmt_hosts {
            let _ = ip(&["link", "del", &format!("cm{}h{n}", self.tag)]);
        }
        let _ = ip(&["link", "del", &self.mgmt_bridge()]);
        for ns in self.namespaces.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

//! Network namespaces joined by a bridge: several "hosts" on one machine, for LAN tests.
//!
//! Needs root and iproute2 (CI runs as root). Every name carries this process's id, and
//! everything created is removed on drop, even when the test fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// The subnet of a test LAN (`10.231.N.0/24`, N from the process id, so that LANs of test
/// binaries running at the same time never overlap); the bridge (the test process's side) is .254.
fn subnet(tag: u32) -> String {
    format!("10.231.{}", tag % 250)
}

/// A bridge and N namespaces, each with one veth on the bridge.
pub struct Lan {
    tag: String,
    subnet: String,
    /// Namespace names, host 1 first.
    pub hosts: Vec<String>,
}

pub use crate::process::Process;

/// Whether this machine can run namespace tests (root and the `ip` tool).
pub fn available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    root && Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Lan {
    /// Creates the bridge and `n` namespaces at `.1` .. `.n` of this LAN's subnet.
    pub fn create(n: usize) -> Result<Lan> {
        let pid = std::process::id();
        let tag = format!("{}", pid % 100_000);
        let mut lan = Lan {
            tag: tag.clone(),
            subnet: subnet(pid),
            hosts: Vec::new(),
        };
        let bridge = lan.bridge();
        ip(&[
            "link",
            "add",
            &bridge,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.254/24", lan.subnet),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 1..=n {
            let ns = format!("chatly{tag}h{i}");
            let veth = format!("cv{tag}h{i}");
            ip(&["netns", "add", &ns])?;
            lan.hosts.push(ns.clone());
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &bridge, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}.{i}/24", lan.subnet),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up", "multicast", "on"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(lan)
    }

    fn bridge(&self) -> String {
        format!("cbr{}", self.tag)
    }

    /// The IP address of host `i` (1-based).
    pub fn host_ip(&self, i: usize) -> String {
        format!("{}.{i}", self.subnet)
    }

    /// Runs the chatly binary in host `i`'s namespace with `args`; stdout is piped.
    pub fn spawn_chatly(&self, i: usize, args: &[String]) -> Result<Child> {
        let ns = &self.hosts[i - 1];
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(chatly_bin()?)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting chatly in a namespace")
    }

    /// Runs `chatly run` in host `i` with mDNS on, no `--peer`, its data under `data`, the UI on
    /// port 7420 of the host's address; returns once it printed its UI address.
    pub async fn start_node(
        &self,
        i: usize,
        data: &std::path::Path,
    ) -> Result<(Process, crate::Client)> {
        let http = format!("{}:7420", self.host_ip(i));
        let args: Vec<String> = [
            "run",
            "--data-dir",
            &data.join(format!("n{i}")).display().to_string(),
            "--http",
            &http,
            "--listen",
            "/ip4/0.0.0.0/tcp/4001",
            "--name",
            &format!("host{i}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (process, client) = crate::process::attach(self.spawn_chatly(i, &args)?).await?;
        anyhow::ensure!(
            client.base == format!("http://{http}"),
            "unexpected UI address {}",
            client.base
        );
        crate::wait_for("the node to answer", crate::PATIENCE, || async {
            client.get("/healthz").await.ok().filter(|(s, _)| *s == 200)
        })
        .await?;
        Ok((process, client))
    }

    /// Starts a node on every host (see [`Lan::start_node`]) and signs up and logs in one account
    /// on each: `names[i]` on host i+1, all with `password`.
    pub async fn start_users(
        &self,
        data: &std::path::Path,
        names: &[&str],
        password: &str,
    ) -> Result<(Vec<Process>, Vec<crate::Client>)> {
        let (mut processes, mut users) = (Vec::new(), Vec::new());
        for (i, name) in names.iter().enumerate() {
            let (process, client) = self.start_node(i + 1, data).await?;
            processes.push(process);
            let (status, body) = client
                .post(
                    "/api/v1/accounts",
                    serde_json::json!({"username": name, "password": password}),
                )
                .await?;
            anyhow::ensure!(status == 201, "sign up {name}: {status} {body}");
            users.push(client.log_in(name, password).await?);
        }
        Ok((processes, users))
    }

    /// Cuts every path between the hosts of `left` and those of `right` (both 1-based), or
    /// restores them: each host gets a blackhole route to each host on the other side, so packets
    /// between the sides vanish silently, as with a cable pulled between two switches, while each
    /// side, and the test process on the bridge, still reach every host.
    pub fn partition(&self, left: &[usize], right: &[usize], cut: bool) -> Result<()> {
        let verb = if cut { "add" } else { "del" };
        for (from, to) in left
            .iter()
            .flat_map(|l| right.iter().flat_map(move |r| [(*l, *r), (*r, *l)]))
        {
            ip(&[
                "-n",
                &self.hosts[from - 1],
                "route",
                verb,
                "blackhole",
                &format!("{}/32", self.host_ip(to)),
            ])?;
        }
        Ok(())
    }

    /// Drops `percent` % of host `i`'s peer-to-peer packets (TCP port 4001), in and out, at
    /// random: a lossy Wi-Fi link. (`tc netem` would also delay, but this machine's kernel has
    /// no netem; iptables' `statistic` match drops alike.) Its HTTP traffic is spared.
    pub fn set_loss(&self, i: usize, percent: u32) -> Result<()> {
        let ns = &self.hosts[i - 1];
        let probability = format!("{:.2}", f64::from(percent) / 100.0);
        for (chain, port_flag) in [("INPUT", "--dport"), ("OUTPUT", "--sport")] {
            let out = Command::new("ip")
                .args([
                    "netns", "exec", ns, "iptables", "-A", chain, "-p", "tcp", port_flag, "4001",
                ])
                .args([
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &probability,
                ])
                .args(["-j", "DROP"])
                .output()
                .context("running iptables")?;
            if !out.status.success() {
                bail!("iptables: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Ok(())
    }

    /// Packets [`Lan::set_loss`] has dropped on host `i` so far.
    pub fn dropped(&self, i: usize) -> Result<u64> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.hosts[i - 1],
                "iptables",
                "-L",
                "-v",
                "-n",
                "-x",
            ])
            .output()
            .context("running iptables")?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("DROP") && l.contains("statistic"))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum())
    }

    /// Brings host `i`'s link down (partition) or up.
    pub fn set_link(&self, i: usize, up: bool) -> Result<()> {
        ip(&[
            "link",
            "set",
            &format!("cv{}h{i}", self.tag),
            if up { "up" } else { "down" },
        ])
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for (i, ns) in self.hosts.iter().enumerate() {
            let _ = ip(&["link", "del", &format!("cv{}h{}", self.tag, i + 1)]);
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}

/// The `chatly` binary: `$CHATLY_BIN`, else `target/<profile>/chatly` beside this test binary.
pub fn chatly_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("CHATLY_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary location")?;
    let bin = profile_dir.join("chatly");
    anyhow::ensure!(
        bin.exists(),
        "{} not found: run `cargo build -p chatly-node` first",
        bin.display()
    );
    Ok(bin)
}

//! `wf kernel` from start to its first reply: a new process is started with a connection
//! file; as soon as its shell port accepts, a client (a ZeroMQ DEALER, as jupyter_client
//! has) sends a signed `kernel_info_request`, and the time from the start of the process to
//! the `kernel_info_reply` is measured. The kernel is then shut down. Prints the median and
//! the spread of N runs.
//!
//!     cargo bench --bench kernel            (N = 20; WF_BENCH_RUNS=50 for more)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wf::kernel::wire::{Message, Signer};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One start; `None` when the kernel could not listen (a port taken meanwhile by another
/// process) or did not answer, so the run is tried again on other ports.
async fn once(dir: &std::path::Path, n: usize) -> Option<Duration> {
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let key = format!("bench-key-{n}");
    let conn = json!({
        "transport": "tcp", "ip": "127.0.0.1", "key": key, "signature_scheme": "hmac-sha256",
        "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2],
        "control_port": ports[3], "hb_port": ports[4],
    });
    let file = dir.join(format!("kernel-{n}.json"));
    std::fs::write(&file, conn.to_string()).unwrap();
    let signer = Signer::new(&key);
    let request = Message::new("bench", "kernel_info_request", None, json!({}));
    let frames = ZmqMessage::try_from(request.to_frames(&signer)).unwrap();

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wf"))
        .args(["kernel", "--connection-file"])
        .arg(&file)
        .env("WF_HOME", dir.join("home"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("kernel-{n}.err"))).unwrap())
        .spawn()
        .expect("wf kernel starts");
    // ZeroMQ clients retry a refused connection after 50-100 ms (jupyter_client's too), which
    // would be measured instead of the kernel: wait for the shell port with plain TCP probes
    // every 0.5 ms, then connect the DEALER, which then succeeds at once.
    let endpoint = format!("tcp://127.0.0.1:{}", ports[0]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ports[0]));
    let given_up = |mut child: std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        let said = std::fs::read_to_string(dir.join(format!("kernel-{n}.err"))).unwrap_or_default();
        eprintln!("run {n} is tried again: the kernel did not answer; it said: {said}");
        None
    };
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if child.try_wait().ok().flatten().is_some() || start.elapsed() > Duration::from_secs(10) {
            return given_up(child);
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let mut shell = zeromq::DealerSocket::new();
    match tokio::time::timeout(Duration::from_secs(5), shell.connect(&endpoint)).await {
        Ok(Ok(())) => {}
        _ => return given_up(child),
    }
    shell.send(frames).await.unwrap();
    let reply = match tokio::time::timeout(Duration::from_secs(10), shell.recv()).await {
        Ok(Ok(r)) => r,
        _ => return given_up(child),
    };
    let took = start.elapsed();
    let reply = Message::parse(reply.into_vec(), &signer).expect("a signed reply");
    assert_eq!(reply.msg_type(), "kernel_info_reply");

    let shutdown = Message::new(
        "bench",
        "shutdown_request",
        None,
        json!({ "restart": false }),
    );
    let _ = shell
        .send(ZmqMessage::try_from(shutdown.to_frames(&signer)).unwrap())
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), shell.recv()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    Some(took)
}

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: do one quick round then.
    let benching = std::env::args().any(|a| a == "--bench");
    let runs: usize = if benching {
        std::env::var("WF_BENCH_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20)
    } else {
        1
    };
    let dir = std::env::temp_dir().join(format!("wf-bench-kernel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut times: Vec<Duration> = (0..runs)
        .map(|n| {
            (0..5)
                .find_map(|attempt| rt.block_on(once(&dir, n * 5 + attempt)))
                .expect("the kernel answers within five tries")
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "kernel start to first reply (kernel_info_reply), {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

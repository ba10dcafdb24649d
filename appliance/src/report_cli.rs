//! `tapscope report`: the tables drawn as one HTML file, or served.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use report::serve::{self, ServeOptions};
use report::{Options, TimeSpec};

/// `tapscope report ...`.
#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// Root folder of the tables (default: output.dir of
    /// /etc/tapscope/tapscope.toml, else /var/lib/tapscope).
    dir: Option<PathBuf>,
    /// Only data from this time: Unix seconds, a UTC date and time
    /// (2024-05-01, 2024-05-01T10:00:00Z) or an age (90s, 15m, 2h, 1d).
    #[arg(long, value_parser = TimeSpec::parse)]
    since: Option<TimeSpec>,
    /// Only data before this time (same forms as --since).
    #[arg(long, value_parser = TimeSpec::parse)]
    until: Option<TimeSpec>,
    /// Only this tap's rows (the tables' tap_id).
    #[arg(long)]
    tap: Option<String>,
    /// The HTML file to write.
    #[arg(long, default_value = "report.html", conflicts_with = "serve")]
    out: PathBuf,
    /// Serve the report over HTTP on ADDRESS:PORT instead, redrawn from the
    /// live tables (loopback only unless --allow-remote; reach it with
    /// `ssh -L PORT:127.0.0.1:PORT admin@tap`).
    #[arg(long, value_name = "ADDRESS:PORT")]
    serve: Option<String>,
    /// Let --serve listen on a non-loopback address. The report has no
    /// authentication: anyone who reaches the port reads it.
    #[arg(long, requires = "serve")]
    allow_remote: bool,
    /// With --serve: seconds between the browser's reloads.
    #[arg(long, default_value_t = 60, requires = "serve")]
    reload: u32,
}

fn default_dir() -> PathBuf {
    let etc = PathBuf::from("/etc/tapscope/tapscope.toml");
    config::Config::load(&etc)
        .map(|c| c.output.dir)
        .unwrap_or_else(|_| config::Config::default().output.dir)
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn run(args: ReportArgs) -> Result<ExitCode> {
    let root = args.dir.unwrap_or_else(default_dir);
    let opts = Options {
        root: root.clone(),
        since: args.since,
        until: args.until,
        tap: args.tap,
        reload_s: None,
    };
    if let Some(addr) = args.serve {
        // A served report may start before the tables do: the page says
        // what is missing until they are there.
        let listener = serve::bind(&addr, args.allow_remote)?;
        let local = listener.local_addr().context("the listening address")?;
        println!(
            "serving the report of {} at http://{local}/ (Ctrl-C stops; from a laptop: \
             ssh -L {port}:127.0.0.1:{port} admin@tap, then open http://127.0.0.1:{port}/)",
            root.display(),
            port = local.port()
        );
        serve::serve(
            listener,
            &ServeOptions {
                report: opts,
                reload_s: args.reload.max(1),
                min_redraw: Duration::from_secs(5),
                max_requests: None,
            },
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !root.is_dir() {
        bail!(
            "{}: no such folder (the tables' root: output.dir, /var/lib/tapscope on the appliance)",
            root.display()
        );
    }
    let r = report::render(&opts, now_unix_s());
    std::fs::write(&args.out, &r.html)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let charts: usize = r.sections.iter().map(|s| s.charts).sum();
    println!(
        "report of {} written to {} ({} KiB, {} sections, {} charts)",
        root.display(),
        args.out.display(),
        r.html.len().div_ceil(1024),
        r.sections.len(),
        charts
    );
    for s in &r.sections {
        for m in &s.missing {
            println!("  {}: {m}", s.title);
        }
    }
    Ok(ExitCode::SUCCESS)
}

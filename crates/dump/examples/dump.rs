//! Dump a database into a directory, or restore such a directory into a live server.
//!
//! ```text
//! cargo run -p lifeboat-dump --example dump -- dump URL DIR [--all] [--table T]... [--mode rdb|logical] [--keys PATTERN]
//! cargo run -p lifeboat-dump --example dump -- restore URL DIR [--create]
//! ```
//!
//! `dump` writes one file per stream (`DIR/db/app.pgdump`, `DIR/globals.sql`, `DIR/dump.rdb` ...)
//! and `DIR/metadata.json` (what a backup manifest would record; no password in it).
//! `restore` feeds the files listed in `DIR/metadata.json`, in order, into the server at URL.
//! The password may be in the URL, or in the environment variable `LIFEBOAT_DB_PASSWORD`.

use std::path::PathBuf;

use lifeboat_dump::{RedisMode, RestoreOptions, Restorer, Secret, Source, SourceMetadata, SourceOptions};

fn usage() -> ! {
    eprintln!(
        "usage: dump dump URL DIR [--all] [--table T]... [--exclude-table T]... [--schema-only] [--data-only] \
         [--mode rdb|logical] [--keys PATTERN]\n       dump restore URL DIR [--create]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        usage();
    }
    let (cmd, url, dir) = (&args[0], &args[1], PathBuf::from(&args[2]));
    let password = Secret::from_env("LIFEBOAT_DB_PASSWORD");
    let result = match cmd.as_str() {
        "dump" => dump(url, dir, &args[3..], password).await,
        "restore" => restore(url, dir, &args[3..], password).await,
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn dump(
    url: &str,
    dir: PathBuf,
    rest: &[String],
    password: Option<Secret>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = SourceOptions { password, ..Default::default() };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--all" => opts.all = true,
            "--schema-only" => opts.schema_only = true,
            "--data-only" => opts.data_only = true,
            "--table" => opts.tables.push(it.next().cloned().unwrap_or_else(|| usage())),
            "--exclude-table" => opts.exclude_tables.push(it.next().cloned().unwrap_or_else(|| usage())),
            "--mode" => opts.redis_mode = it.next().unwrap_or_else(|| usage()).parse::<RedisMode>()?,
            "--keys" => opts.key_pattern = Some(it.next().cloned().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let source = Source::from_url(url, &opts)?;
    let mut dumps = source.dump().await?;
    println!("dumping {} stream(s): {:?}", dumps.names().len(), dumps.names());
    let mut metas: Vec<SourceMetadata> = Vec::new();
    while let Some(stream) = dumps.next().await? {
        let path = dir.join(&stream.name);
        tokio::fs::create_dir_all(path.parent().unwrap()).await?;
        // Written under a temporary name and renamed when the dump succeeded, so a failed dump
        // never leaves a file that looks complete.
        let partial = path.with_extension("partial");
        let mut file = tokio::fs::File::create(&partial).await?;
        match stream.copy_to(&mut file).await {
            Ok((bytes, meta)) => {
                file.sync_all().await?;
                tokio::fs::rename(&partial, &path).await?;
                println!("{}: {bytes} bytes, position {:?}", path.display(), meta.position);
                metas.push(meta);
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e.into());
            }
        }
    }
    tokio::fs::write(dir.join("metadata.json"), serde_json::to_vec_pretty(&metas)?).await?;
    Ok(())
}

async fn restore(
    url: &str,
    dir: PathBuf,
    rest: &[String],
    password: Option<Secret>,
) -> Result<(), Box<dyn std::error::Error>> {
    let create = match rest {
        [] => false,
        [c] if c == "--create" => true,
        _ => usage(),
    };
    let metas: Vec<SourceMetadata> = serde_json::from_slice(&tokio::fs::read(dir.join("metadata.json")).await?)?;
    let restorer = Restorer::from_url(url, &RestoreOptions { create, password, ..Default::default() })?;
    for meta in metas {
        let mut file = tokio::fs::File::open(dir.join(&meta.stream)).await?;
        let report = restorer.restore(&meta.stream, &mut file).await?;
        println!("{} -> {}: {} bytes, {} warning(s)", report.name, report.target, report.bytes, report.warnings.len());
        for w in report.warnings {
            println!("  warning: {w}");
        }
    }
    Ok(())
}

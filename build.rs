//! Lets the loom mutant check select a deliberately broken kernel variant with
//! `COWHEAP_MUTANT=<name>`, which becomes `--cfg cowheap_mutant="<name>"` for this crate only,
//! so switching mutants rebuilds cowheap alone rather than every dependency.

fn main() {
    println!("cargo:rerun-if-env-changed=COWHEAP_MUTANT");
    if let Ok(mutant) = std::env::var("COWHEAP_MUTANT") {
        if !mutant.is_empty() {
            println!("cargo:rustc-cfg=cowheap_mutant=\"{mutant}\"");
        }
    }
}

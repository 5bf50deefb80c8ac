pub(super) fn write(_r: &weir_api::bench::BenchReport, _o: &mut dyn std::io::Write) -> std::io::Result<()> {
    Ok(())
}

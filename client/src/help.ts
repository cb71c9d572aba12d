/** `--help` for every runnable entry: prints the text and exits before anything starts. */
export function exitWithHelpIfAsked(text: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(text.trimEnd() + '\n');
    process.exit(0);
  }
}

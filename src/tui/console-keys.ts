// The console's key help and footer texts, kept next to each other so a new key is documented in both places.

export const HELP = `{bold}vigil console - keys{/bold}

  {bold}Up/Down{/bold}, {bold}k/j{/bold}   select a candidate
  {bold}Enter{/bold}, {bold}p{/bold}       preview the selected candidate's video (Esc closes)
  {bold}w{/bold}              preview in an OpenCV window (needs a desktop: DISPLAY)
  {bold}a{/bold} / {bold}v{/bold} / {bold}b{/bold}      switch the candidate to audio only / video only / both
  {bold}K{/bold}              kick the candidate (asks y/n); its client stops for good
  {bold}/{/bold}              filter candidates by id (Esc clears)
  {bold}s{/bold}              sort: attention first (open incident, then incident seconds), by id, longest connected
  {bold}e{/bold}              ended sessions by review priority (as \`vigil report\`); Enter tells where its files are
  {bold}?{/bold}              this help
  {bold}q{/bold}, {bold}Ctrl-C{/bold}      quit the console (the server keeps running)

Press any key to close.`;

export const FOOTER = ' {bold}Enter{/bold} preview  {bold}a/v/b{/bold} mode  {bold}K{/bold} kick  {bold}/{/bold} filter  {bold}s{/bold} sort  {bold}e{/bold} ended  {bold}?{/bold} help  {bold}q{/bold} quit';

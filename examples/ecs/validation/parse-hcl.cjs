// Parses each file named on the command line with @cdktf/hcl2json, which is
// HashiCorp's HCL 2 parser (github.com/hashicorp/hcl/v2, the one Terraform
// uses) compiled to WebAssembly, and prints {"<file>": <its JSON form>}.
// Exits 1, naming the file, line and column, on the first syntax error.
// Blocks become lists of objects; expressions become "${...}" strings.
const fs = require("fs");
const { parse } = require("@cdktf/hcl2json");

(async () => {
  const out = {};
  let failed = false;
  for (const file of process.argv.slice(2)) {
    try {
      out[file] = await parse(file, fs.readFileSync(file, "utf8"));
    } catch (error) {
      console.error(`${file}: ${String(error).replace(/^Error: /, "")}`);
      failed = true;
    }
  }
  if (failed) process.exit(1);
  process.stdout.write(JSON.stringify(out));
})();

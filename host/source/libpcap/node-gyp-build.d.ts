// node-gyp-build ships no types: the two calls siphon makes.
declare module "node-gyp-build" {
  interface NodeGypBuild {
    (dir: string): unknown;
    /** The path of the binary that fits this platform, runtime and ABI; throws when none does. */
    resolve(dir: string): string;
  }
  const load: NodeGypBuild;
  export default load;
}

/**
 * A deployment name a file may ask for (blob metadata `deployment`, or `?deployment=` on the API).
 * Azure ML's naming rule for endpoint and deployment names (Learn, "Endpoints for inference":
 * begins with a letter, 3 to 32 characters, letters, digits and dashes only). Checked here so a bad
 * value is refused with a clear message instead of AML's "No valid deployments to route to".
 */
const DEPLOYMENT_NAME = /^[A-Za-z][A-Za-z0-9-]{2,31}$/;

/** Why `name` is not a valid deployment name, or undefined when it is. */
export function deploymentNameProblem(name: string): string | undefined {
  if (DEPLOYMENT_NAME.test(name)) return undefined;
  const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
  return `${shown} is not a valid Azure ML deployment name: 3 to 32 letters, digits or dashes, starting with a letter.`;
}

/** The blob metadata key naming a file's deployment (`x-ms-meta-deployment`). */
export const DEPLOYMENT_METADATA = 'deployment';

/**
 * The pixell-a2a security policy pack, run by the Pulumi CLI:
 *
 *   pulumi preview --policy-pack infra/policy [--policy-pack-config infra/policy/require-tls.json]
 *
 * The policies are in pack.ts, their checks (pure functions) in policies.ts.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./pack";

new PolicyPack("pixell-a2a-security", { policies });

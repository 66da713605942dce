import { Aws, CfnElement, CfnOutput, CfnRule, Fn, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';
import { EnvironmentConfig } from './config';

export interface BaseStackProps extends StackProps {
  readonly config: EnvironmentConfig;
}

/**
 * Common behaviour of every stack of this app:
 *  - region pinned from the config, account left to the deploying credentials
 *    (no synth-time lookups, so synth and tests run without AWS access), and a
 *    CloudFormation rule that rejects any account other than the configured one;
 *  - termination protection for production;
 *  - the same stack tags everywhere, so cost reports can be split per environment;
 *  - helpers for outputs with stable export names and for cdk-nag
 *    acknowledgements that always carry a reason.
 */
export class BaseStack extends Stack {
  readonly config: EnvironmentConfig;

  constructor(scope: Construct, id: string, props: BaseStackProps) {
    super(scope, id, {
      ...props,
      env: { region: props.config.region },
      terminationProtection: props.config.name === 'production',
      // Stack tags: CloudFormation copies them onto every resource that takes tags.
      tags: {
        Application: 'StartUpWebApp',
        Environment: props.config.name,
        ManagedBy: 'aws-cdk',
        ...(props.config.tags ?? {}),
        ...(props.tags ?? {}),
      },
    });
    this.config = props.config;

    new CfnRule(this, 'AccountGuard', {
      assertions: [
        {
          assert: Fn.conditionEquals(Aws.ACCOUNT_ID, props.config.account),
          assertDescription: `This template belongs to account ${props.config.account} (lib/config.ts, environment ${props.config.name}).`,
        },
      ],
    });
  }

  /**
   * An output with logical id `<Scope><Name>` (e.g. `SwaClusterName`) and
   * export name `<prefix>-<scope>-<Name>` (e.g. `swa-prod-swa-ClusterName`).
   * `scope` is a tenant name or the stack's role (network, data, ci, ...).
   * These names are the contract with the ops tooling; see docs/infrastructure.md.
   */
  /** An ARN as cdk-nag prints it in finding ids (partition and region are literals here, the account is not). */
  nagArn(service: string, resource: string, region = true): string {
    const partition = Token.isUnresolved(this.partition) ? '<AWS::Partition>' : this.partition;
    return `arn:${partition}:${service}:${region ? this.region : ''}:<AWS::AccountId>:${resource}`;
  }

  /** "<LogicalId>" of a construct's CloudFormation resource as cdk-nag prints it. */
  nagRef(construct: IConstruct, attribute?: string): string {
    const id = this.getLogicalId(construct.node.defaultChild as CfnElement);
    return attribute ? `<${id}.${attribute}>` : `<${id}>`;
  }

  protected output(scope: string, name: string, value: string, description: string): CfnOutput {
    const id = `${scope.charAt(0).toUpperCase()}${scope.slice(1)}${name}`;
    return new CfnOutput(this, id, {
      value,
      description,
      exportName: `${this.config.prefix}-${scope}-${name}`,
    });
  }
}

/**
 * Acknowledges a CDK library warning (not a cdk-nag rule), e.g.
 * "@aws-cdk/aws-cloudfront-origins:listBucketSecurityRisk", with a reason.
 */
export function acknowledgeWarning(scope: IConstruct, id: string, reason: string): void {
  ACKNOWLEDGEMENTS.push({ path: scope.node.path, id: `Annotation::${id}`, reason });
  Validations.of(scope).acknowledge({ id: `Annotation::${id}`, reason });
}

/** Every acknowledgement made while building the app (the docs list them; a test keeps the two in step). */
export const ACKNOWLEDGEMENTS: { path: string; id: string; reason: string }[] = [];

/** A cdk-nag acknowledgement: rule id (e.g. "IAM5[Resource::*]") and a written reason. */
export interface NagAck {
  readonly id: string;
  readonly reason: string;
}

/**
 * Acknowledges AwsSolutions findings on a construct (and its children).
 * Every acknowledgement needs a reason; the reasons are listed in
 * docs/infrastructure.md.
 */
export function acknowledge(scope: IConstruct, ...acks: NagAck[]): void {
  for (const ack of acks) {
    if (ack.reason.trim().length < 20) throw new Error(`cdk-nag acknowledgement ${ack.id} needs a real reason`);
    ACKNOWLEDGEMENTS.push({ path: scope.node.path, id: `AwsSolutions-${ack.id}`, reason: ack.reason });
    Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${ack.id}`, reason: ack.reason });
  }
}

/** Converts a number of days from the config into a CloudWatch Logs retention, rejecting values CloudWatch does not offer. */
export function retentionDays(days: number): RetentionDays {
  const allowed = Object.values(RetentionDays).filter((v): v is RetentionDays => typeof v === 'number');
  if (!allowed.includes(days as RetentionDays) || days === RetentionDays.INFINITE) {
    throw new Error(`Log retention of ${days} days is not a CloudWatch Logs retention value`);
  }
  return days as RetentionDays;
}

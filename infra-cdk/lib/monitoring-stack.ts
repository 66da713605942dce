import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { AppStack } from './app-stack';
import { BaseStack, BaseStackProps } from './base-stack';
import { DataStack } from './data-stack';

/** The tag the service logs when an order confirmation mail (or the cart cleanup after payment) fails. */
export const ORDER_EMAIL_FAILURE_TAG = '[ORDER_EMAIL_FAILURE]';
/** The tag the service logs when any outgoing mail is given up after its retries. */
export const EMAIL_FAILURE_TAG = '[EMAIL_FAILURE]';

export interface MonitoringStackProps extends BaseStackProps {
  readonly data: DataStack;
  readonly apps: AppStack[];
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/**
 * Alarms and one dashboard for the environment.
 *  - Shared database alarms go to the ops topic (config opsAlertEmail).
 *  - Each tenant's alarms (ALB 5xx, unhealthy targets, ECS CPU/memory, order
 *    mail failures) go to that tenant's topic (tenant alertEmail).
 * Every alarm also notifies on recovery (OK), so a quiet inbox means healthy.
 * Email subscriptions must be confirmed once from the mail AWS sends.
 */
export class MonitoringStack extends BaseStack {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const cfg = props.config;

    const opsTopic = this.topic('OpsAlerts', `${cfg.prefix} shared infrastructure alerts`, cfg.opsAlertEmail);
    this.output('monitoring', 'OpsTopicArn', opsTopic.topicArn, 'SNS topic of shared-infrastructure alarms');

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${cfg.prefix}-overview`,
      defaultInterval: Duration.hours(6),
    });

    // ---- Database (metrics scoped to the one instance, unlike the legacy dashboard)
    const rdsInstance = props.data.instance;
    const a = cfg.database.alarms;
    const dbAlarms = [
      this.alarm(opsTopic, 'DbCpuHigh', rdsInstance.metricCPUUtilization({ period: Duration.minutes(5) }), {
        threshold: 70,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: 'Database CPU above 70 % for 10 minutes',
      }),
      this.alarm(opsTopic, 'DbConnectionsHigh', rdsInstance.metricDatabaseConnections({ period: Duration.minutes(5) }), {
        threshold: a.maxConnections,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `More than ${a.maxConnections} database connections for 10 minutes`,
      }),
      this.alarm(opsTopic, 'DbStorageLow', rdsInstance.metricFreeStorageSpace({ period: Duration.minutes(5) }), {
        threshold: a.minFreeStorageGiB * GIB,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        alarmDescription: `Less than ${a.minFreeStorageGiB} GiB free database storage (storage autoscaling may be at its maximum)`,
      }),
      this.alarm(opsTopic, 'DbMemoryLow', rdsInstance.metricFreeableMemory({ period: Duration.minutes(5) }), {
        threshold: a.minFreeableMemoryMiB * MIB,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        alarmDescription: `Less than ${a.minFreeableMemoryMiB} MiB freeable database memory for 10 minutes`,
      }),
    ];
    const dbMetric = (metricName: string, statistic = 'Average') =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: { DBInstanceIdentifier: props.data.instanceIdentifier },
        statistic,
        period: Duration.minutes(5),
      });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: `# Database ${props.data.instanceIdentifier}`, width: 24, height: 1 }),
      new cloudwatch.GraphWidget({ title: 'CPU %', left: [rdsInstance.metricCPUUtilization()], leftYAxis: { min: 0, max: 100 }, width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Connections', left: [rdsInstance.metricDatabaseConnections()], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Free memory / storage (bytes)', left: [rdsInstance.metricFreeableMemory()], right: [rdsInstance.metricFreeStorageSpace()], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Latency (s)', left: [dbMetric('ReadLatency'), dbMetric('WriteLatency')], width: 12 }),
      new cloudwatch.GraphWidget({ title: 'Throughput (bytes/s)', left: [dbMetric('ReadThroughput'), dbMetric('WriteThroughput')], width: 12 }),
      new cloudwatch.AlarmStatusWidget({ title: 'Database alarms', alarms: dbAlarms, width: 24, height: 3 }),
    );

    for (const app of props.apps) this.addTenant(app);
  }

  private addTenant(app: AppStack): void {
    const cfg = this.config;
    const t = app.tenant.name;
    const id = (s: string) => `${t}-${s}`;
    const topic = this.topic(id('Alerts'), `${cfg.prefix} ${t} alerts`, app.tenant.alertEmail);
    this.output(t, 'AlertsTopicArn', topic.topicArn, `SNS topic of tenant ${t} alarms`);

    const lb = app.service.loadBalancer;
    const tg = app.service.targetGroup;
    const svc = app.service.service;
    const fiveMin = { period: Duration.minutes(5), statistic: 'Sum' };

    const targetErrors = tg.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, fiveMin);
    const lbErrors = lb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, fiveMin);

    // Order mail failures are found in the service log by their tag. allTerms
    // quotes the term: an unquoted [ORDER_EMAIL_FAILURE] is read as
    // space-delimited field syntax and matched every health-check log line.
    const filter = new logs.MetricFilter(this, id('OrderEmailFailureFilter'), {
      logGroup: app.serviceLogGroup,
      filterPattern: logs.FilterPattern.allTerms(ORDER_EMAIL_FAILURE_TAG),
      metricNamespace: `StartupWebApp/${cfg.prefix}`,
      metricName: `OrderEmailFailures-${t}`,
      metricValue: '1',
      defaultValue: 0,
    });
    const emailFailures = filter.metric({ statistic: 'Sum', period: Duration.minutes(1) });
    const anyMailFilter = new logs.MetricFilter(this, id('EmailFailureFilter'), {
      logGroup: app.serviceLogGroup,
      filterPattern: logs.FilterPattern.allTerms(EMAIL_FAILURE_TAG),
      metricNamespace: `StartupWebApp/${cfg.prefix}`,
      metricName: `EmailFailures-${t}`,
      metricValue: '1',
      defaultValue: 0,
    });
    const anyMailFailures = anyMailFilter.metric({ statistic: 'Sum', period: Duration.minutes(5) });

    const alarms = [
      this.alarm(topic, id('Target5xx'), targetErrors, {
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `${t}: 5 or more 5xx answers from the service in 5 minutes`,
      }),
      this.alarm(topic, id('Alb5xx'), lbErrors, {
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `${t}: 5 or more 5xx answers generated by the ALB (no healthy target, timeouts) in 5 minutes`,
      }),
      this.alarm(topic, id('UnhealthyHosts'), tg.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }), {
        threshold: 0,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `${t}: a target failed the ${'/healthz'} health check for 3 minutes`,
      }),
      this.alarm(topic, id('CpuHigh'), svc.metricCpuUtilization({ period: Duration.minutes(5) }), {
        threshold: 90,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `${t}: service CPU above 90 % for 15 minutes (scaling at 70 % did not keep up, or max tasks reached)`,
      }),
      this.alarm(topic, id('MemoryHigh'), svc.metricMemoryUtilization({ period: Duration.minutes(5) }), {
        threshold: 90,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `${t}: service memory above 90 % for 15 minutes`,
      }),
      this.alarm(topic, id('OrderEmailFailures'), emailFailures, {
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `${t}: an order confirmation mail failed (${ORDER_EMAIL_FAILURE_TAG} in the service log)`,
      }),
      this.alarm(topic, id('EmailFailures'), anyMailFailures, {
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription: `${t}: an outgoing mail was given up after its retries (${EMAIL_FAILURE_TAG} in the service log; see swa_email_outbox)`,
      }),
    ];

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: `# Tenant ${t} (https://${app.tenant.apiDomain})`, width: 24, height: 1 }),
      new cloudwatch.GraphWidget({
        title: 'Requests / 5xx',
        left: [lb.metrics.requestCount(fiveMin)],
        right: [targetErrors, lbErrors],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Latency p95 (s)',
        left: [lb.metrics.targetResponseTime({ period: Duration.minutes(5), statistic: 'p95' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Service CPU / memory %',
        left: [svc.metricCpuUtilization(), svc.metricMemoryUtilization()],
        leftYAxis: { min: 0, max: 100 },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Healthy / unhealthy targets',
        left: [tg.metrics.healthyHostCount(), tg.metrics.unhealthyHostCount()],
        width: 12,
      }),
      new cloudwatch.GraphWidget({ title: 'Order mail failures', left: [emailFailures], width: 12 }),
      new cloudwatch.AlarmStatusWidget({ title: `${t} alarms`, alarms, width: 24, height: 3 }),
    );
  }

  private topic(id: string, displayName: string, email: string): sns.Topic {
    const topic = new sns.Topic(this, id, { displayName, enforceSSL: true });
    topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }

  private alarm(topic: sns.ITopic, id: string, metric: cloudwatch.Metric, props: Omit<cloudwatch.CreateAlarmOptions, 'treatMissingData'>) {
    const alarm = metric.createAlarm(this, id, {
      ...props,
      alarmName: `${this.config.prefix}-${id}`,
      // No data (no traffic, no tasks yet) is not an incident.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(topic));
    alarm.addOkAction(new actions.SnsAction(topic));
    return alarm;
  }
}

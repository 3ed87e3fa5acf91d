// Every route module of the web port, in the order they are registered.
import { healthRoutes } from './health.ts';
import { metricsRoutes } from './metrics.ts';
import { instanceRoutes } from './instances.ts';
import { projectRoutes } from './projects.ts';
import { inventoryRoutes } from './inventories.ts';
import { jobTemplateRoutes } from './job-templates.ts';
import { workflowJobTemplateRoutes } from './workflow-job-templates.ts';
import { jobRoutes } from './jobs.ts';
import { jobEventRoutes } from './job-events.ts';
import { configRoutes } from './config.ts';
import { statusPageRoutes } from './status-page.ts';

/** The route modules that take only the API context (the root module also takes the route table). */
export const ROUTE_MODULES = [
  healthRoutes,
  metricsRoutes,
  instanceRoutes,
  projectRoutes,
  inventoryRoutes,
  jobTemplateRoutes,
  workflowJobTemplateRoutes,
  jobRoutes,
  jobEventRoutes,
  configRoutes,
  statusPageRoutes,
] as const;

export { rootRoutes } from './root.ts';
